package soak

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
)

// TestStaleName: only our prefix followed by the PID of a process that is gone
// is an earlier run's leftover; a run still going keeps its namespaces.
func TestStaleName(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name string
		want bool
	}{
		{netPrefix + dead + "n0", true},
		{netPrefix + dead + "h2", true},
		{netPrefix + self + "n0", false}, // this run
		{netPrefix + "1h0", false},       // PID 1 is alive
		{netPrefix + "n0", false},        // no PID
		{"veth" + dead + "n0", false},    // not ours
		{"x" + netPrefix + dead, false},  // prefix not at the start
	} {
		if got := staleName(tc.name); got != tc.want {
			t.Errorf("staleName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFaultKindsFor: the loopback layout draws process faults only, as before;
// namespaces add the partitions and the cuts of the store or the bus alone, and
// slow-link only with netem.
func TestFaultKindsFor(t *testing.T) {
	if got := faultKindsFor(nil); !slices.Equal(got, faultKinds[:]) {
		t.Errorf("loopback: %v", got)
	}
	with := faultKindsFor(&netLayout{tbf: true})
	if !slices.Contains(with, faultPartition) || !slices.Contains(with, faultOneWay) || slices.Contains(with, faultSlow) {
		t.Errorf("namespaces without netem: %v", with)
	}
	if got := faultKindsFor(&netLayout{}); !slices.Equal(got, append(faultKinds[:], faultPartition, faultCutStore, faultCutBus)) {
		t.Errorf("namespaces without tc: %v", got)
	}
	if !slices.Contains(faultKindsFor(&netLayout{tbf: true, netem: true}), faultSlow) {
		t.Error("namespaces with netem: no slow-link")
	}
}

func TestSetupNetnsOptOut(t *testing.T) {
	t.Setenv("TOCSIN_SOAK_NETNS", "0")
	if l, why := setupNetns(t, 3); l != nil || why == "" {
		t.Errorf("TOCSIN_SOAK_NETNS=0: layout %v, reason %q", l, why)
	}
}
