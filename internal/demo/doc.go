// Package demo is the quickstart's demo tool: an upstream that shows what the
// gateway sent it. Every request gets a page (or JSON, for
// Accept: application/json) with the request as received (method, path,
// headers; the context token shortened, cookies and credentials hidden) and
// the claims of the context token as verified by package contexttoken. A
// request without a valid token gets 401 and a page that says plainly what
// failed, so that someone trying the gateway out sees both sides of the
// contract.
//
// The demo is not an example of authorization: it shows the claims, it does
// not act on them.
package demo
