package membus_test

import (
	"testing"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/bustest"
	"github.com/tocsin/tocsin/membus"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, bustest.Options{
		Open:  func(t *testing.T) tocsin.Bus { return membus.New() },
		Nodes: 1,
	})
}
