// Package route finds the route for a request: a map from host to a path tree
// (static segments, {variables} with optional regular expressions, prefix or
// exact matches), so lookup costs one map access and a walk of the path's
// segments, never a scan of all routes.
//
// It also owns path normalization (normalize.go): rules match, and the
// upstream receives, the one normalized path that Normalize returns, made
// from the raw request target (RawPath). Because upstreams read even that
// path differently, the table computes the readings that matter — as sent,
// with Servlet path parameters removed, and without regard to letter case
// (Express, ASP.NET Core) — and finds no route when they disagree on the
// route or its variables (Check, NormalizeRequest: a 400). Routes may be
// case-insensitive (Options.CaseInsensitive). docs/security.md has the table
// of readings and examples.
//
// Host matching is exact on the lowercase host without port; wildcard hosts
// are not supported.
package route
