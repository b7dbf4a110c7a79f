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
//     parentFileNameHint names, to a bounded depth ([Options.MaxChainDepth]).
//     A parentCID that differs from the parent's CID, or a parent of another
//     size, is reported in [Info.Warnings], not refused. Names written on
//     Windows have their backslashes read as slashes, and a parent named by
//     an absolute path that is not found is looked for next to its child.
//
// Not read: raw device mappings (VMFSRDM, VMFSRAW), vSAN objects and any
// other extent type; they are refused by name with an error wrapping
// [errors.ErrUnsupported], as are seSparse extents whose journal needs
// replaying. The redundant grain directory is never used, and stream
// markers other than a grain's are not walked: the grain directory says
// where every grain is.
//
// # Security
//
// Images are untrusted input. Every offset, count and size read from one is
// checked before it sizes an allocation, a loop or a read: a grain
// directory must lie in its file, and the directories of all the extents
// and parents of an image are bounded together; grain tables and grains
// must lie in their file and must not overlap the header, the grain
// directory or their own grain table, a compressed grain may not inflate to
// more than a grain, descriptors are at most 1 MiB, and parent chains are
// bounded in depth and may not loop. Damage gives a [*FormatError] naming
// the file and the byte offset, never a panic. Grain tables and inflated
// grains are kept in caches of bounded size. Nothing is ever written.
package vmdk
