package rbac

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
)

// Scopes (rule RBAC-2, arm-and-rbac.md §1 and §3):
//
//	/                                            the root, ancestor of everything
//	/subscriptions/{s}
//	/subscriptions/{s}/resourceGroups/{rg}
//	…/providers/{ns}/{type}/{name}[/{childType}/{childName}…]
//	…/providers/{ns2}/{extType}/{extName}        (extension resources)
//
// Scopes compare case-insensitively (clients send both resourceGroups and
// resourcegroups). An assignment at scope A applies to target T when A is T
// or an ancestor of T at a segment boundary: /subscriptions/a is an ancestor
// of /subscriptions/a/resourceGroups/x but not of /subscriptions/ab.

// NormalizeScope returns the comparison key of a scope: lower-cased (ASCII),
// surrounding spaces and trailing slashes removed, a leading slash added;
// "" and "/" give "/".
func NormalizeScope(scope string) string {
	s := trimScope(strings.TrimSpace(scope))
	if s[0] != '/' {
		s = "/" + s
	}
	return lowerASCII(s)
}

// trimScope removes trailing slashes; "" becomes "/". No allocation.
func trimScope(s string) string {
	for len(s) > 1 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "/"
	}
	return s
}

// IsAncestorOrSelf reports whether an assignment at scope ancestor applies
// to target: ancestor is target or contains it at a segment boundary,
// compared case-insensitively. "/" is an ancestor of every scope.
func IsAncestorOrSelf(ancestor, target string) bool {
	return coversFold(trimScope(strings.TrimSpace(ancestor)), trimScope(strings.TrimSpace(target)))
}

// coversFold is IsAncestorOrSelf for trimmed scopes in any case (ASCII
// folding). No allocation.
func coversFold(scope, target string) bool {
	if scope == "/" || scope == "" {
		return true
	}
	if len(target) < len(scope) || len(target) > len(scope) && target[len(scope)] != '/' {
		return false
	}
	return equalFoldASCII(scope, target[:len(scope)])
}

// Scope hashing. Every valid scope has an even number of segments ("/" 0,
// a subscription 2, a resource group 4, a resource 8 or 6, a child or an
// extension resource 2 or 4 more), so the ancestors of a target that can
// hold an assignment are its prefixes at even segment counts. A scope's
// hash is maphash (process seed) of its lower-cased bytes; ancestry
// lower-cases a target once and hashes each such prefix.
const (
	// maxAncestors bounds the prefixes tracked, and maxHashedScope the
	// target length; beyond either, callers compare strings instead.
	maxAncestors   = 24
	maxHashedScope = 512
)

// hashScope hashes a trimmed scope, case-insensitively.
func hashScope(s string) uint64 {
	var buf [maxHashedScope]byte
	return maphash.Bytes(hashSeed, appendLower(buf[:0], s))
}

// ancestry holds the hashes of a target's possible assignment scopes, from
// "/" (index 0) to the target itself (most specific last).
type ancestry struct {
	n    int
	over bool // too deep or too long: callers compare strings instead
	h    [maxAncestors]uint64
}

func (a *ancestry) add(h uint64) {
	if a.n == len(a.h) {
		a.over = true
		return
	}
	a.h[a.n] = h
	a.n++
}

// init computes the hashes for a trimmed target starting with '/'.
func (a *ancestry) init(t string) {
	a.n, a.over = 0, false
	if len(t) > maxHashedScope || len(t) == 0 {
		a.over = true
		return
	}
	var buf [maxHashedScope]byte
	b := appendLower(buf[:0], t)
	a.add(maphash.Bytes(hashSeed, b[:1])) // "/"
	slashes := 1
	for i := 1; ; {
		j := bytes.IndexByte(b[i:], '/')
		if j < 0 {
			break
		}
		if slashes%2 == 0 {
			a.add(maphash.Bytes(hashSeed, b[:i+j])) // an even number of segments
		}
		slashes++
		i += j + 1
	}
	if len(b) > 1 && slashes%2 == 0 {
		a.add(maphash.Bytes(hashSeed, b))
	}
}

// depth returns the index of h among the ancestors (higher is more
// specific), or -1.
func (a *ancestry) depth(h uint64) int {
	for j := a.n - 1; j >= 0; j-- {
		if a.h[j] == h {
			return j
		}
	}
	return -1
}

// Ancestors returns the normalised scope and each of its ancestors at a
// segment boundary, most specific first, ending with "/".
func Ancestors(scope string) []string {
	s := NormalizeScope(scope)
	out := []string{s}
	for s != "/" {
		i := strings.LastIndexByte(s, '/')
		if i <= 0 {
			s = "/"
		} else {
			s = s[:i]
		}
		out = append(out, s)
	}
	return out
}

// ParentScope returns the nearest ancestor scope that can hold a role
// assignment (skipping the "resourceGroups", "providers" and namespace
// segments): a resource's parent resource, resource group or subscription,
// then "/". The parent of "/" is "".
func ParentScope(scope string) string {
	segs := splitScope(scope)
	if len(segs) == 0 {
		return ""
	}
	for n := len(segs) - 1; n >= 0; n-- {
		if n == 0 {
			return "/"
		}
		if scopeShapeOK(segs[:n]) == nil {
			return "/" + strings.Join(segs[:n], "/")
		}
	}
	return "/"
}

func splitScope(scope string) []string {
	return splitInto(nil, strings.Trim(strings.TrimSpace(scope), "/"))
}

// splitInto appends the '/'-separated segments of path to dst.
func splitInto(dst []string, path string) []string {
	if path == "" {
		return dst
	}
	for {
		i := strings.IndexByte(path, '/')
		if i < 0 {
			return append(dst, path)
		}
		dst = append(dst, path[:i])
		path = path[i+1:]
	}
}

// ValidateScope checks that scope is "/" or an ARM scope:
// /subscriptions/{s}[/resourceGroups/{rg}][/providers/{ns}/{type}/{name}(/{childType}/{childName})*]…,
// with extension resources (a further /providers/{ns}/{type}/{name}) allowed.
// A trailing slash is tolerated. Errors are of kind ErrInvalidScope.
func ValidateScope(scope string) error {
	if !strings.HasPrefix(scope, "/") {
		return errorf(ErrInvalidScope, "The scope '%s' is not valid: a scope starts with '/' ('/', /subscriptions/{id}, …/resourceGroups/{name}, or a resource ID).", scope)
	}
	var buf [48]string
	if err := scopeShapeOK(splitInto(buf[:0], trimScope(scope)[1:])); err != nil {
		return errorf(ErrInvalidScope, "The scope '%s' is not valid: %s.", scope, err.Error())
	}
	return nil
}

func badSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', 0, '?', '#':
			return true
		}
	}
	return false
}

func scopeShapeOK(segs []string) error {
	for _, s := range segs {
		if badSegment(s) {
			return errors.New("empty, '.' or '..' segments, backslashes, '?' and '#' are not allowed")
		}
	}
	if len(segs) == 0 {
		return nil
	}
	if !strings.EqualFold(segs[0], "subscriptions") || len(segs) < 2 {
		return errors.New("expected /subscriptions/{subscriptionId}")
	}
	i := 2
	if i < len(segs) && strings.EqualFold(segs[i], "resourceGroups") {
		if i+1 >= len(segs) {
			return errors.New("expected /resourceGroups/{resourceGroupName}")
		}
		i += 2
	}
	for i < len(segs) {
		if !strings.EqualFold(segs[i], "providers") {
			return fmt.Errorf("expected 'providers' at segment %q", segs[i])
		}
		if i+3 >= len(segs) {
			return errors.New("expected /providers/{namespace}/{type}/{name}")
		}
		i += 4
		for i < len(segs) && !strings.EqualFold(segs[i], "providers") {
			if i+1 >= len(segs) {
				return fmt.Errorf("child type %q has no name", segs[i])
			}
			i += 2
		}
	}
	return nil
}
