package rbac

import (
	"encoding/binary"
	"strings"
)

// Action matching (rule RBAC-1, arm-and-rbac.md §3 "Matching"):
// permission strings are case-insensitive and '*' behaves like the regular
// expression ".*", spanning '/'. So "*/read" matches
// "Microsoft.Storage/storageAccounts/read", and
// "Microsoft.MachineLearningServices/workspaces/*/read" matches
// ".../workspaces/onlineEndpoints/deployments/read" but not
// ".../workspaces/read" (the '*' sits between two literal slashes).
//
// Case folding is ASCII-only: Azure action names and resource types are
// ASCII. Patterns are lower-cased once when compiled; the action being
// checked is folded byte by byte during the comparison, so a check never
// allocates.

// Pattern is a compiled action pattern.
type Pattern struct {
	src    string
	any    bool     // the pattern is "*" (or only stars)
	exact  bool     // no '*': compare whole strings
	prefix string   // literal before the first '*' (lower-case)
	suffix string   // literal after the last '*' (lower-case)
	middle []string // literals between stars, in order (lower-case, non-empty)
}

// CompilePattern compiles an action pattern.
func CompilePattern(p string) Pattern {
	lp := lowerASCII(strings.TrimSpace(p))
	c := Pattern{src: p}
	if strings.IndexByte(lp, '*') < 0 {
		c.exact = true
		c.prefix = lp
		return c
	}
	parts := strings.Split(lp, "*")
	c.prefix, c.suffix = parts[0], parts[len(parts)-1]
	for _, m := range parts[1 : len(parts)-1] {
		if m != "" {
			c.middle = append(c.middle, m)
		}
	}
	c.any = c.prefix == "" && c.suffix == "" && len(c.middle) == 0
	return c
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.src }

// Match reports whether the action matches the pattern (case-insensitively).
func (p Pattern) Match(action string) bool {
	if p.any {
		return true
	}
	if p.exact {
		return len(action) == len(p.prefix) && hasPrefixFold(action, p.prefix)
	}
	if len(action) < len(p.prefix)+len(p.suffix) ||
		!hasPrefixFold(action, p.prefix) ||
		!hasPrefixFold(action[len(action)-len(p.suffix):], p.suffix) {
		return false
	}
	// Leftmost placement of each middle literal is optimal for ".*" globs.
	s := action[len(p.prefix) : len(action)-len(p.suffix)]
	for _, m := range p.middle {
		i := indexFold(s, m)
		if i < 0 {
			return false
		}
		s = s[i+len(m):]
	}
	return true
}

// MatchAction reports whether action matches the pattern (compiling it on
// each call; use CompilePattern in loops).
func MatchAction(pattern, action string) bool { return CompilePattern(pattern).Match(action) }

// privilege is a rough measure of how much a pattern grants, used to order
// GrantingRoles least-privileged first: a literal counts 1; a wildcard
// counts more the shorter its literal prefix ("*" most of all).
func (p Pattern) breadth() int {
	switch {
	case p.exact:
		return 1
	case p.any:
		return 1 << 20
	case p.prefix == "":
		return 1 << 14
	default:
		return 16 + max(0, 64-len(p.prefix))
	}
}

// readOnly reports whether everything the pattern matches is a read.
func (p Pattern) readOnly() bool {
	if p.exact {
		return strings.HasSuffix(p.prefix, "/read")
	}
	return !p.any && strings.HasSuffix(p.suffix, "/read")
}

// patternSet is a compiled list of patterns.
type patternSet []Pattern

func compileSet(ss []string) patternSet {
	if len(ss) == 0 {
		return nil
	}
	out := make(patternSet, 0, len(ss))
	for _, s := range ss {
		out = append(out, CompilePattern(s))
	}
	return out
}

func (ps patternSet) match(action string) bool {
	for i := range ps {
		if ps[i].Match(action) {
			return true
		}
	}
	return false
}

// compiledPermission is a Permission with compiled patterns.
type compiledPermission struct {
	actions, notActions, dataActions, notDataActions patternSet
}

func compilePermission(p Permission) compiledPermission {
	return compiledPermission{
		actions: compileSet(p.Actions), notActions: compileSet(p.NotActions),
		dataActions: compileSet(p.DataActions), notDataActions: compileSet(p.NotDataActions),
	}
}

// allows: matches some allow pattern and no deny pattern of the same block.
func (c *compiledPermission) allows(action string, data bool) bool {
	if data {
		return c.dataActions.match(action) && !c.notDataActions.match(action)
	}
	return c.actions.match(action) && !c.notActions.match(action)
}

// --- ASCII case folding without allocation ---

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// lowerASCII lower-cases ASCII letters, returning s itself (no allocation)
// when it has none.
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		b[i] = lowerByte(b[i])
	}
	return string(b)
}

// SWAR helpers: eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// lower8 lower-cases the ASCII capitals among the 8 bytes of x.
func lower8(x uint64) uint64 {
	h := x &^ highs                  // low 7 bits of each byte: no carries below
	geA := h + (0x80-'A')*ones       // high bit set where byte >= 'A'
	gtZ := h + (0x80-'Z'-1)*ones     // high bit set where byte > 'Z'
	upper := geA &^ gtZ &^ x & highs // 'A'..'Z' and ASCII
	return x | upper>>2              // 0x80>>2 == 0x20
}

// load64 reads s[i:i+8] little-endian (one load once compiled).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// appendLower appends s lower-cased (ASCII) to dst.
func appendLower(dst []byte, s string) []byte {
	n := len(dst)
	if cap(dst)-n < len(s) {
		dst = append(dst, make([]byte, len(s))...)
	}
	dst = dst[:n+len(s)]
	b := dst[n:]
	i := 0
	for ; i+8 <= len(s); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], lower8(load64(s, i)))
	}
	for ; i < len(s); i++ {
		b[i] = lowerByte(s[i])
	}
	return dst
}

// equalFoldASCII reports whether a and b are equal ignoring ASCII case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	i := 0
	for ; i+8 <= len(a); i += 8 {
		if x, y := load64(a, i), load64(b, i); x != y && lower8(x) != lower8(y) {
			return false
		}
	}
	for ; i < len(a); i++ {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

// hasPrefixFold: s starts with lower (already lower-case), ignoring ASCII case.
func hasPrefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if lowerByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// indexFold: first index of lower (already lower-case) in s, ignoring ASCII
// case, or -1.
func indexFold(s, lower string) int {
	if len(lower) == 0 {
		return 0
	}
	first := lower[0]
	for i := 0; i+len(lower) <= len(s); i++ {
		if lowerByte(s[i]) == first && hasPrefixFold(s[i:], lower) {
			return i
		}
	}
	return -1
}
