package requirement

import "fmt"

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// String renders the problem under prefix ("routes[2].require.device").
func (p Problem) String(prefix string) string {
	return prefix + p.Path + ": " + p.Msg
}
