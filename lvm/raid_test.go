package lvm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// There is neither md nor device-mapper on the machines these tests run
// on, so no kernel writes the arrays. Instead each layout is written out
// below by hand, one period of stripes, from md's description of it (the
// layouts of drivers/md/raid5.c's raid5_compute_sector and raid10's near
// layout, and dm-raid's mapping of lvm2's names onto them): "D<k>" is data
// chunk k of the LV, "P" and "Q" parity. The test lays the LV's chunks out
// on the images by the table, fills parity with a byte that must never be
// read, and reads the LV back.
var raidTables = []struct {
	typ    string
	n      int
	layout string // rows of a period, separated by '|'
}{
	{"raid0", 3, "D0 D1 D2"},
	{"raid0_meta", 2, "D0 D1"},
	// lvm2's raid4 keeps parity on the first device (lvmraid(7); dm-raid
	// maps it to md's parity-0 layout).
	{"raid4", 4, "P D0 D1 D2"},
	{"raid5_n", 4, "D0 D1 D2 P"},
	{"raid5_la", 4, "D0 D1 D2 P | D3 D4 P D5 | D6 P D7 D8 | P D9 D10 D11"},
	{"raid5_ls", 4, "D0 D1 D2 P | D4 D5 P D3 | D8 P D6 D7 | P D9 D10 D11"},
	{"raid5", 4, "D0 D1 D2 P | D4 D5 P D3 | D8 P D6 D7 | P D9 D10 D11"},
	{"raid5_ra", 4, "P D0 D1 D2 | D3 P D4 D5 | D6 D7 P D8 | D9 D10 D11 P"},
	{"raid5_rs", 4, "P D0 D1 D2 | D5 P D3 D4 | D7 D8 P D6 | D9 D10 D11 P"},
	{"raid5_ls", 3, "D0 D1 P | D3 P D2 | P D4 D5"},
	{"raid6_zr", 5, "P Q D0 D1 D2 | D3 P Q D4 D5 | D6 D7 P Q D8 | D9 D10 D11 P Q | Q D12 D13 D14 P"},
	{"raid6", 5, "P Q D0 D1 D2 | D3 P Q D4 D5 | D6 D7 P Q D8 | D9 D10 D11 P Q | Q D12 D13 D14 P"},
	{"raid6_nr", 5, "D0 D1 D2 P Q | D3 D4 P Q D5 | D6 P Q D7 D8 | P Q D9 D10 D11 | Q D12 D13 D14 P"},
	{"raid6_nc", 5, "D0 D1 D2 Q P | D4 D5 Q P D3 | D8 Q P D6 D7 | Q P D9 D10 D11 | P D12 D13 D14 Q"},
	{"raid6_n_6", 5, "D0 D1 D2 P Q"},
	{"raid6_ls_6", 5, "D0 D1 D2 P Q | D4 D5 P D3 Q | D8 P D6 D7 Q | P D9 D10 D11 Q"},
	{"raid6_rs_6", 5, "P D0 D1 D2 Q | D5 P D3 D4 Q | D7 D8 P D6 Q | D9 D10 D11 P Q"},
	{"raid6_la_6", 5, "D0 D1 D2 P Q | D3 D4 P D5 Q | D6 P D7 D8 Q | P D9 D10 D11 Q"},
	{"raid6_ra_6", 5, "P D0 D1 D2 Q | D3 P D4 D5 Q | D6 D7 P D8 Q | D9 D10 D11 P Q"},
	// md's near layout: the copies of a chunk side by side, running on
	// from row to row.
	{"raid10", 4, "D0 D0 D1 D1"},
	{"raid10", 3, "D0 D0 D1 | D1 D2 D2"},
	{"raid10_near", 5, "D0 D0 D1 D1 D2 | D2 D3 D3 D4 D4"},
}

const (
	raidChunk       = 1024 // bytes: stripe_size = 2
	raidImageExtent = 15   // extents of data in each image
	// raidRows is a multiple of every period in raidTables.
	raidRows = raidImageExtent * testExtent / raidChunk
)

// raidLayoutTable parses a layout: for each row of the period, what each
// device holds, as a data chunk number or -1 for parity.
func raidLayoutTable(t *testing.T, layout string, n int) (rows [][]int, data int) {
	t.Helper()
	for _, row := range strings.Split(layout, "|") {
		f := strings.Fields(row)
		if len(f) != n {
			t.Fatalf("layout row %q has %d devices, want %d", row, len(f), n)
		}
		r := make([]int, n)
		for i, c := range f {
			r[i] = -1
			if k, err := strconv.Atoi(strings.TrimPrefix(c, "D")); err == nil {
				r[i] = k
				data = max(data, k+1)
			}
		}
		rows = append(rows, r)
	}
	return rows, data
}

// raidLVText returns the metadata of a raid LV "r" of type typ over n
// images r_rimage_<i> of raidImageExtent extents, image i on PV i%4 from
// extent 20*(i/4+1), each with a metadata LV r_rmeta_<i> when metas.
func raidLVText(typ string, n int, extents int, metas bool, copies string) string {
	var raids []string
	var subs strings.Builder
	for i := 0; i < n; i++ {
		pv, at := fmt.Sprintf("pv%d", i%4), 20*(i/4+1)
		if metas {
			raids = append(raids, fmt.Sprintf(`"r_rmeta_%d"`, i))
			subs.WriteString(lin(fmt.Sprintf("r_rmeta_%d", i), 1, pv, at-1))
		}
		raids = append(raids, fmt.Sprintf(`"r_rimage_%d"`, i))
		subs.WriteString(lin(fmt.Sprintf("r_rimage_%d", i), raidImageExtent+1, pv, at))
	}
	count := "device_count"
	if strings.HasPrefix(typ, "raid0") {
		count = "stripe_count"
	}
	return fmt.Sprintf(`r { id = "r" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = %d type = "%s" %s = %d %s region_size = 1024 stripe_size = %d
		raids = [%s] } }
`, extents, typ, count, n, copies, raidChunk/sectorSize, strings.Join(raids, ", ")) + subs.String()
}

// raidImage returns the bytes of image i of a group made from raidLVText.
func raidImage(data [][]byte, i, n int) []byte {
	return pvBytes(data, i%4, 20*(i/4+1), raidImageExtent+1)
}

func TestRAIDLayouts(t *testing.T) {
	for _, tt := range raidTables {
		t.Run(fmt.Sprintf("%s-%d", tt.typ, tt.n), func(t *testing.T) {
			rows, perPeriod := raidLayoutTable(t, tt.layout, tt.n)
			extents := raidRows / len(rows) * perPeriod * raidChunk / testExtent
			copies := ""
			if strings.HasPrefix(tt.typ, "raid10") {
				copies = "data_copies = 2"
			}
			g, data := testGroup(t, raidLVText(tt.typ, tt.n, extents, true, copies))
			lvData := make([]byte, extents*testExtent)
			rng := rand.New(rand.NewPCG(3, uint64(tt.n)))
			for i := range lvData {
				lvData[i] = byte(rng.Uint32())
			}
			for i := 0; i < tt.n; i++ {
				clear(pvBytes(data, i%4, 20*(i/4+1)-1, 1)) // no superblock
				img := raidImage(data, i, tt.n)
				for row := 0; row < raidRows; row++ {
					chunk := img[row*raidChunk : (row+1)*raidChunk]
					k := rows[row%len(rows)][i]
					if k < 0 {
						for j := range chunk {
							chunk[j] = 0xEE
						}
						continue
					}
					k += row / len(rows) * perPeriod
					if k*raidChunk < len(lvData) {
						copy(chunk, lvData[k*raidChunk:])
					}
				}
			}
			checkVolume(t, openLV(t, g, "r"), lvData)
		})
	}
}

func TestRAIDLocate(t *testing.T) {
	// Every layout puts each data chunk of a stripe on its own device.
	for name, l := range raidLayouts {
		if l.level != 5 && l.level != 6 {
			continue
		}
		for n := l.parity + 1; n <= 9; n++ {
			if l.level == 6 && n < 4 {
				continue
			}
			for stripe := int64(0); stripe < 3*int64(n); stripe++ {
				seen := map[int]bool{}
				for d := int64(0); d < int64(n-l.parity); d++ {
					dev, s := l.locate(stripe*int64(n-l.parity)+d, n)
					if s != stripe || dev < 0 || dev >= n || seen[dev] {
						t.Fatalf("%s n=%d stripe %d chunk %d: device %d stripe %d (seen %v)", name, n, stripe, d, dev, s, seen)
					}
					seen[dev] = true
				}
			}
		}
	}
}

// putRAIDSuperblock writes a dm-raid superblock into a metadata LV.
func putRAIDSuperblock(b []byte, dataOffset uint64, flags uint32) {
	clear(b[:512])
	le.PutUint32(b[0:], raidSBMagic)
	le.PutUint32(b[4:], raidSBFeatureV190)
	le.PutUint32(b[raidSBFlagsOff:], flags)
	le.PutUint64(b[raidSBDataOffset:], dataOffset)
}

func TestRAIDDataOffset(t *testing.T) {
	// Images of 3 extents: data from the second extent on, as the
	// superblocks say after a reshape moved it.
	g, data := testGroup(t, raidLVText("raid5_ls", 3, 4, true, ""))
	lvData := make([]byte, 4*testExtent)
	for i := range lvData {
		lvData[i] = byte(i * 7 / 3)
	}
	for i := 0; i < 3; i++ {
		putRAIDSuperblock(pvBytes(data, i, 19, 1), testExtent/sectorSize, 0)
		img := raidImage(data, i, 3)[testExtent:]
		for row := 0; row < len(lvData)/raidChunk/2; row++ {
			// left symmetric, 3 devices: parity on device 2 - row%3.
			pd := 2 - row%3
			if i == pd {
				continue
			}
			d := (i - pd - 1 + 3) % 3
			copy(img[row*raidChunk:(row+1)*raidChunk], lvData[(row*2+d)*raidChunk:])
		}
	}
	checkVolume(t, openLV(t, g, "r"), lvData)

	// A data offset that leaves too little room is refused.
	putRAIDSuperblock(pvBytes(data, 1, 19, 1), 15*testExtent/sectorSize, 0)
	if _, err := g.Open("r"); err == nil || !strings.Contains(err.Error(), "too few") {
		t.Errorf("offset past the image: %v", err)
	}
	// A reshape in progress is not read.
	putRAIDSuperblock(pvBytes(data, 1, 19, 1), testExtent/sectorSize, raidSBReshapeFlag)
	if _, err := g.Open("r"); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "reshape") {
		t.Errorf("reshaping: %v", err)
	}
}

func TestRAIDDegraded(t *testing.T) {
	// raid10 over 3 devices keeps two copies of each chunk on neighbours,
	// so it reads with any one image gone, but not with two.
	text := raidLVText("raid10", 3, 3, false, "data_copies = 2")
	g, data := testGroup(t, text, 1)
	rows, _ := raidLayoutTable(t, "D0 D0 D1 | D1 D2 D2", 3)
	lvData := make([]byte, 3*testExtent)
	for i := range lvData {
		lvData[i] = byte(i*13 + i>>10)
	}
	for i := 0; i < 3; i++ {
		img := raidImage(data, i, 3)
		for row := 0; row < len(lvData)/raidChunk*2/3; row++ {
			k := rows[row%2][i] + row/2*3
			copy(img[row*raidChunk:(row+1)*raidChunk], lvData[k*raidChunk:])
		}
	}
	v := openLV(t, g, "r")
	checkVolume(t, v, lvData)
	if w := v.Warnings(); len(w) != 1 || !strings.Contains(w[0], "r_rimage_1") {
		t.Errorf("warnings %q", w)
	}
	g, _ = testGroup(t, text, 0, 1)
	if _, err := g.Open("r"); !errors.Is(err, ErrMissingPV) || !strings.Contains(err.Error(), "r_rimage_0") || !strings.Contains(err.Error(), "r_rimage_1") {
		t.Errorf("two images gone: %v", err)
	}
	// raid0 has no redundancy at all.
	g, _ = testGroup(t, raidLVText("raid0", 2, 2, false, ""), 1)
	if _, err := g.Open("r"); !errors.Is(err, ErrMissingPV) || !strings.Contains(err.Error(), "r_rimage_1") {
		t.Errorf("raid0 image gone: %v", err)
	}
}

func TestRAID0Linear(t *testing.T) {
	// A raid0 of one image has no stripe size.
	g, data := testGroup(t, `r { id = "r" status = ["READ", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 3 type = "raid0" stripe_count = 1 raid0_lvs = ["i"] } }
`+lin("i", 3, "pv2", 7))
	checkVolume(t, openLV(t, g, "r"), pvBytes(data, 2, 7, 3))
}
