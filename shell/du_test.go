package shell

import (
	"io/fs"
	"testing"
	"testing/fstest"

	"vmsh/fsread"
)

func TestDu(t *testing.T) {
	f := func(ino uint64, mode uint32, nlink uint32, blocks int64) *fsread.Stat {
		return &fsread.Stat{Ino: ino, Mode: mode, Nlink: nlink, Blocks: blocks}
	}
	fsys := fstest.MapFS{
		"d":       {Mode: fs.ModeDir | 0o755, Sys: f(2, sIFDIR|0o755, 3, 8)},
		"d/a":     {Data: []byte("a"), Sys: f(3, sIFREG|0o644, 2, 8)},
		"d/s":     {Mode: fs.ModeDir | 0o755, Sys: f(4, sIFDIR|0o755, 2, 8)},
		"d/s/a2":  {Data: []byte("a"), Sys: f(3, sIFREG|0o644, 2, 8)},
		"d/s/big": {Data: []byte("b"), Sys: f(5, sIFREG|0o644, 1, 3*2048+1)},
		"d/odd":   {Data: []byte("o"), Sys: f(6, sIFREG|0o644, 1, 1)},
	}
	tests := []struct{ cmd, out, err string }{
		{"du d", "3077\td/s\n3085\td\n", ""}, // d/s/a2 is d/a, counted once
		{"du -s d", "3085\td\n", ""},
		{"du -sh d", "3.1M\td\n", ""},
		{"du -a d/s", "4\td/s/a2\n3073\td/s/big\n3081\td/s\n", ""},
		{"du d/odd nope", "1\td/odd\n", "vmsh: du nope: no such file or directory\n"},
	}
	for _, tt := range tests {
		out, errs, _ := session(t, fsys, tt.cmd)
		if out != tt.out || errs != tt.err {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q", tt.cmd, out, tt.out, errs, tt.err)
		}
	}
}

func TestTree(t *testing.T) {
	fsys := fstest.MapFS{
		"r/a/x":      {Data: []byte("x")},
		"r/a/y/z":    {Data: []byte("z")},
		"r/b":        {Data: []byte("b")},
		"r/.h":       {Data: []byte("h")},
		"r/l":        {Data: []byte("a"), Mode: fs.ModeSymlink | 0o777},
		"r/m":        {Data: []byte("b"), Mode: fs.ModeSymlink | 0o777},
		"one/only":   {Mode: fs.ModeDir | 0o755},
		"one/only/f": {Data: []byte("f")},
	}
	tests := []struct{ cmd, out, err string }{
		// As tree(1) 2.x draws and counts: no-break spaces after the
		// vertical line, and the directories given counted too.
		{"tree r", "r\n├── a\n│\u00a0\u00a0 ├── x\n│\u00a0\u00a0 └── y\n│\u00a0\u00a0     └── z\n├── b\n├── l -> a\n└── m -> b\n\n4 directories, 4 files\n", ""},
		{"tree -a -L 1 r", "r\n├── .h\n├── a\n├── b\n├── l -> a\n└── m -> b\n\n3 directories, 3 files\n", ""},
		{"tree -L1 one", "one\n└── only\n\n2 directories, 0 files\n", ""},
		{"cd one; tree", ".\n└── only\n    └── f\n\n2 directories, 1 file\n", ""},
		{"tree -L 0 r", "", "vmsh: tree: invalid level, must be greater than 0\n"},
		{"tree nope r/b", "nope  [error opening dir]\nr/b  [error opening dir]\n\n0 directories, 1 file\n", ""},
	}
	for _, tt := range tests {
		out, errs, _ := session(t, fsys, tt.cmd)
		if out != tt.out || errs != tt.err {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q", tt.cmd, out, tt.out, errs, tt.err)
		}
	}
}
