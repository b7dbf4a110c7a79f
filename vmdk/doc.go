// Package vmdk reads VMware virtual disks (VMDK), read-only, as one flat
// virtual disk.
//
// [Open] takes the file the user named, which is either a text descriptor
// or a sparse extent that starts with "KDMV" (monolithicSparse,
// streamOptimized) or "COWD", and returns an [*Image] whose ReadAt serves
// the guest's bytes. The files a descriptor names (extents, the parent of a
// delta disk) are opened through the caller's [Opener], with names relative
// to the directory of the file that names them.
//
// What is read, after VMware's Virtual Disk Format 5.0 and what qemu does:
//
//   - Text descriptors, embedded in a sparse extent or in a file of their
//     own: version, CID, parentCID, createType, parentFileNameHint, extent
//     lines and the ddb.* keys; comments, blank lines, CRLF line ends and
//     quoted or bare values are accepted. See [ParseDescriptor].
//   - Extents: FLAT and VMFS (monolithicFlat, twoGbMaxExtentFlat and
//     "-flat.vmdk" files), ZERO, SPARSE in its hosted form (grain directory
//     and grain tables, version 1 to 3, zeroed-grain entries) and its
//     stream-optimized form (deflate-compressed grains behind markers, the
//     grain directory found through the footer when the header says it is
//     at the end), VMFSSPARSE (ESX "COWD" delta extents) and SESPARSE (ESXi
//     space-efficient sparse extents). Any number of extents, as
//     twoGbMaxExtentSparse and twoGbMaxExtentFlat make.
//   - Delta disks: grains a child does not hold are read from the parent its
//     parentFileNameHint names, to a bounded depth. A parentCID that differs
//     from the parent's CID is reported in [Info.Warnings], not refused.
//
// Not read: raw device mappings (VMFSRDM, VMFSRAW), vSAN objects and any
// other extent type; they are refused by name with an error wrapping
// [errors.ErrUnsupported]. The redundant grain directory is never used.
//
// # Security
//
// Images are untrusted input. Every offset, count and size read from one is
// checked before it sizes an allocation, a loop or a read: the grain
// directory must lie in its file and is bounded, grain tables and grains
// must lie in their file and must not overlap the header, the grain
// directory or their own grain table, a compressed grain may not inflate to
// more than a grain, descriptors are at most 1 MiB, and parent chains are
// bounded in depth and may not loop. Damage gives a [*FormatError] naming
// the file and the byte offset, never a panic. Grain tables and inflated
// grains are kept in caches of bounded size. Nothing is ever written.
package vmdk
