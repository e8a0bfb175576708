// Package kinds is the list of requirement kinds the gateway knows. Adding
// a kind is one package that implements requirement.Kind and one line in
// All. The order of All is the order in which a route's requirements are
// checked, so the first unmet one (whose page the user sees) is the most
// useful to fix first.
package kinds

import (
	"github.com/accessgateway/gateway/internal/breakglass"
	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/schedule"
)

// All is every requirement kind, in checking order.
var All = []requirement.Kind{
	schedule.Kind{},
	device.Kind{},
	justify.Kind{},
	breakglass.Kind{},
}

func init() {
	for _, k := range All {
		policy.RegisterReasons(k.Name(), k.Reasons()...)
	}
}

// Get returns the kind named name.
func Get(name string) (requirement.Kind, bool) {
	for _, k := range All {
		if k.Name() == name {
			return k, true
		}
	}
	return nil, false
}

// Index returns the position of the kind named name in All, or -1.
func Index(name string) int {
	for i, k := range All {
		if k.Name() == name {
			return i
		}
	}
	return -1
}
