package lvm

import (
	"errors"
	"fmt"
	"strings"
)

// raidAlgo is an md RAID4/5/6 layout: where a stripe's parity and data
// chunks lie on the array's devices.
type raidAlgo int

// The md layouts, named as md names them; lvm2's segment types map to them
// as dm-raid does.
const (
	algNone raidAlgo = iota
	algLeftAsymmetric
	algRightAsymmetric
	algLeftSymmetric
	algRightSymmetric
	algParity0 // parity on the first device (lvm2's raid4)
	algParityN // parity on the last device(s) (raid5_n, raid6_n_6)
	algRotatingZeroRestart
	algRotatingNRestart
	algRotatingNContinue
	algLeftAsymmetric6 // raid5 left asymmetric on all but the last device, Q on the last
	algRightAsymmetric6
	algLeftSymmetric6
	algRightSymmetric6
)

// raidLayout is how a raid segment type places data: md's level, its
// algorithm for levels 5 and 6, and the number of parity devices.
type raidLayout struct {
	level  int // 0, 1, 5 (raid4 and raid5), 6 or 10
	algo   raidAlgo
	parity int
}

// raidLayouts holds the raid segment types read here, by lvm2's name.
var raidLayouts = map[string]raidLayout{
	"raid0":       {level: 0},
	"raid0_meta":  {level: 0},
	"raid1":       {level: 1},
	"raid10":      {level: 10}, // lvm2's raid10 is md's near layout
	"raid10_near": {level: 10},
	"raid4":       {5, algParity0, 1},
	"raid5_n":     {5, algParityN, 1},
	"raid5":       {5, algLeftSymmetric, 1},
	"raid5_ls":    {5, algLeftSymmetric, 1},
	"raid5_rs":    {5, algRightSymmetric, 1},
	"raid5_la":    {5, algLeftAsymmetric, 1},
	"raid5_ra":    {5, algRightAsymmetric, 1},
	"raid6":       {6, algRotatingZeroRestart, 2},
	"raid6_zr":    {6, algRotatingZeroRestart, 2},
	"raid6_nr":    {6, algRotatingNRestart, 2},
	"raid6_nc":    {6, algRotatingNContinue, 2},
	"raid6_n_6":   {6, algParityN, 2},
	"raid6_ls_6":  {6, algLeftSymmetric6, 2},
	"raid6_rs_6":  {6, algRightSymmetric6, 2},
	"raid6_la_6":  {6, algLeftAsymmetric6, 2},
	"raid6_ra_6":  {6, algRightAsymmetric6, 2},
}

// locate returns the device of an n-device RAID4/5/6 array that holds data
// chunk number chunk (counting the array's data chunks from 0) and the
// stripe, the row of chunks on every device, it lies in. It follows md's
// raid5_compute_sector.
func (l raidLayout) locate(chunk int64, n int) (dev int, stripe int64) {
	data := int64(n - l.parity)
	stripe = chunk / data
	d := int(chunk % data)
	// rot is the stripe's place in a cycle over all devices, rot1 over
	// all but the last (where the *_6 layouts keep Q).
	rot := func() int { return int(stripe % int64(n)) }
	rot1 := func() int { return int(stripe % int64(n-1)) }
	switch l.level {
	case 5:
		switch l.algo {
		case algLeftAsymmetric:
			if pd := int(data) - rot(); d >= pd {
				d++
			}
		case algRightAsymmetric:
			if pd := rot(); d >= pd {
				d++
			}
		case algLeftSymmetric:
			d = (int(data) - rot() + 1 + d) % n
		case algRightSymmetric:
			d = (rot() + 1 + d) % n
		case algParity0:
			d++
		case algParityN:
			// Data first, parity on the last device.
		}
	case 6:
		switch l.algo {
		case algRotatingZeroRestart:
			// P rotates forward from device 0 and Q follows it; data
			// restarts after Q, or at device 1 when Q wraps to device 0.
			if pd := rot(); pd == n-1 {
				d++
			} else if d >= pd {
				d += 2
			}
		case algRotatingNRestart:
			// P rotates backward from device n-2 and Q follows it.
			if pd := n - 1 - int((stripe+1)%int64(n)); pd == n-1 {
				d++
			} else if d >= pd {
				d += 2
			}
		case algRotatingNContinue:
			// P rotates backward from device n-1 with Q just before it;
			// data continues after P.
			d = (n - rot() + d) % n
		case algParityN:
			// Data first, P and Q on the last two devices.
		case algLeftAsymmetric6:
			if pd := int(data) - rot1(); d >= pd {
				d++
			}
		case algRightAsymmetric6:
			if pd := rot1(); d >= pd {
				d++
			}
		case algLeftSymmetric6:
			d = (int(data) - rot1() + 1 + d) % (n - 1)
		case algRightSymmetric6:
			d = (rot1() + 1 + d) % (n - 1)
		}
	}
	return d, stripe
}

// raidDev reads the data of a raid0, raid4/5/6 or raid10 segment from its
// images; parity is never read.
type raidDev struct {
	name   string // the LV, for messages
	layout raidLayout
	chunk  int64 // bytes
	copies int   // raid10
	images []device
	// offsets are where each image's data starts, in bytes.
	offsets []int64
	// missing explains, for an image that could not be opened, why.
	missing []error
	names   []string
}

func (r *raidDev) readAt(p []byte, off int64) error {
	n := len(r.images)
	for len(p) > 0 {
		c, within := off/r.chunk, off%r.chunk
		m := min(int64(len(p)), r.chunk-within)
		var err error
		switch r.layout.level {
		case 0:
			err = r.read(int(c%int64(n)), p[:m], (c/int64(n))*r.chunk+within)
		case 10:
			// md's near layout: the copies of each chunk lie side by side,
			// running across the devices row after row.
			v := c * int64(r.copies)
			for k := int64(0); k < int64(r.copies); k++ {
				if err = r.read(int((v+k)%int64(n)), p[:m], ((v+k)/int64(n))*r.chunk+within); err == nil {
					break
				}
			}
		default:
			d, stripe := r.layout.locate(c, n)
			err = r.read(d, p[:m], stripe*r.chunk+within)
		}
		if err != nil {
			return err
		}
		p, off = p[m:], off+m
	}
	return nil
}

// read reads from image i at off bytes past its data offset.
func (r *raidDev) read(i int, p []byte, off int64) error {
	if r.images[i] == nil {
		return fmt.Errorf("lvm: LV %s: RAID image %s is unavailable: %w", r.name, r.names[i], r.missing[i])
	}
	return r.images[i].readAt(p, r.offsets[i]+off)
}

// checkRedundancy returns an error when the images missing leave data the
// array cannot read without parity: any image for raid0 and raid4/5/6, all
// the copies of some chunk for raid10.
func (r *raidDev) checkRedundancy() error {
	n := len(r.images)
	var missing []string
	for i, img := range r.images {
		if img == nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", r.names[i], r.missing[i]))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	lost := r.layout.level != 10
	if !lost {
		// The copies of chunk c start at device c*copies mod n; check every
		// such start.
		for c := 0; c < n && !lost; c++ {
			all := true
			for k := 0; k < r.copies; k++ {
				if r.images[(c*r.copies+k)%n] != nil {
					all = false
				}
			}
			lost = all
		}
	}
	if !lost {
		return nil
	}
	err := fmt.Errorf("lvm: LV %s: RAID images unavailable: %s", r.name, strings.Join(missing, "; "))
	for _, e := range r.missing {
		if errors.Is(e, ErrMissingPV) {
			return fmt.Errorf("%w (%w)", err, ErrMissingPV)
		}
	}
	return err
}

// The dm-raid superblock at the start of each rmeta LV; only the fields
// read here.
const (
	raidSBMagic        = 0x64526D44 // "DmRd"
	raidSBFeatureV190  = 0x1        // compat feature: the extended superblock
	raidSBReshapeFlag  = 0x1        // flags: a reshape is in progress
	raidSBFlagsOff     = 60
	raidSBDataOffset   = 96
	raidSBMinimumBytes = 120
)

// raidDataOffset reads the dm-raid superblock from an image's metadata LV
// and returns where the image's data starts, in bytes. Without a
// superblock (an array never activated) the data starts at 0. A reshape in
// progress is an error wrapping errors.ErrUnsupported.
func raidDataOffset(meta device, metaSize int64, lv, metaName string) (int64, error) {
	if metaSize < raidSBMinimumBytes {
		return 0, nil
	}
	var sb [raidSBMinimumBytes]byte
	if err := meta.readAt(sb[:], 0); err != nil {
		return 0, err
	}
	if le.Uint32(sb[0:]) != raidSBMagic || le.Uint32(sb[4:])&raidSBFeatureV190 == 0 {
		return 0, nil
	}
	if le.Uint32(sb[raidSBFlagsOff:])&raidSBReshapeFlag != 0 {
		return 0, fmt.Errorf("lvm: LV %s: %s records a reshape in progress: %w", lv, metaName, errors.ErrUnsupported)
	}
	off := le.Uint64(sb[raidSBDataOffset:])
	if off > uint64(maxSectors) {
		return 0, fmt.Errorf("lvm: LV %s: %s records data offset %d sectors, out of range", lv, metaName, off)
	}
	return int64(off) * sectorSize, nil
}
