package fixturetest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestHideFS(t *testing.T) {
	m := fstest.MapFS{
		"a/f":        {Data: []byte("abc")},
		"a/huge":     {Data: []byte("pretend this is big")},
		"b":          {Data: []byte("a"), Mode: fs.ModeSymlink},
		"dangling":   {Data: []byte("missing"), Mode: fs.ModeSymlink},
		"loop":       {Data: []byte("loop"), Mode: fs.ModeSymlink},
		"to-huge":    {Data: []byte("b/huge"), Mode: fs.ModeSymlink},
		"dev":        {Mode: fs.ModeDevice},
		"many/keep1": {Data: []byte("1")},
		"many/keep9": {Data: []byte("9")},
	}
	hidden := map[string]bool{"a/huge": true, "dangling": true, "loop": true, "to-huge": true}
	for i := range 5 {
		n := fmt.Sprintf("many/hide%d", i)
		m[n] = &fstest.MapFile{Data: []byte("x")}
		hidden[n] = true
	}
	h := newHideFS(m, hidden)
	if err := fstest.TestFS(h, "a/f", "b", "dev", "many/keep1", "many/keep9"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a/huge", "b/huge", "b/../b/huge", "dangling", "loop", "to-huge", "many/hide3", "a/huge/x"} {
		if _, err := h.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want fs.ErrNotExist", name, err)
		}
		if _, err := h.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Lstat(%q) = %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, err := h.Lstat("b"); err != nil {
		t.Errorf("Lstat(b): %v", err)
	}
	if _, err := h.Open("/a/f"); err == nil {
		t.Errorf("Open(/a/f) succeeded")
	}
	ents, err := h.ReadDir("b")
	if err != nil || len(ents) != 1 || ents[0].Name() != "f" {
		t.Errorf("ReadDir(b) = %v, %v; want [f]", ents, err)
	}

	// ReadDir(1) on an opened directory reads on past hidden entries.
	f, err := h.Open("many")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := f.(fs.ReadDirFile)
	var names []string
	for {
		ents, err := d.ReadDir(1)
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil || len(ents) != 1 {
			t.Fatalf("ReadDir(1) = %v, %v", ents, err)
		}
	}
	if fmt.Sprint(names) != "[keep1 keep9]" {
		t.Errorf("ReadDir(1) in a loop: %q", names)
	}
}
