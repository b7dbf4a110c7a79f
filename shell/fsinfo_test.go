package shell

import (
	"testing"

	"vmsh/fsread"
)

func TestJournalState(t *testing.T) {
	for _, c := range []struct {
		info     fsread.Info
		noReplay bool
		want     string
	}{
		{fsread.Info{Replayed: true, ReplayTransactions: 3, ReplayBlocks: 17, Features: []string{"has_journal"}}, false, "replayed 3 transactions, 17 blocks"},
		{fsread.Info{Features: []string{"has_journal", "needs_recovery"}}, true, "not replayed (--no-replay)"},
		{fsread.Info{Features: []string{"has_journal", "needs_recovery"}}, false, "needs recovery, not replayed (see the warnings)"},
		{fsread.Info{Features: []string{"has_journal"}}, false, "clean"},
		{fsread.Info{Features: []string{"ext_attr"}}, false, "none"},
	} {
		if got := journalState(c.info, c.noReplay); got != c.want {
			t.Errorf("journalState(%+v, %v) = %q, want %q", c.info, c.noReplay, got, c.want)
		}
	}
	if got := humanBytes(25165824); got != "24.0 MiB" {
		t.Errorf("humanBytes = %q", got)
	}
}
