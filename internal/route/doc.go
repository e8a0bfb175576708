// Package route finds the route for a request: a map from host to a path tree
// (static segments, {variables} with optional regular expressions, prefix or
// exact matches), so lookup costs one map access and a walk of the path's
// segments, never a scan of all routes.
//
// It also owns path normalization (normalize.go): rules match, and the
// upstream receives, the one normalized path that Normalize returns.
//
// Host matching is exact on the lowercase host without port; wildcard hosts
// are not supported.
package route
