package output

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// yamlDump is knack's format_yaml:
//
//	try:
//	    return yaml.safe_dump(result, default_flow_style=False, allow_unicode=True)
//	except yaml.representer.RepresenterError:
//	    return yaml.safe_dump(json.loads(json.dumps(result)), ...)
//
// SafeRepresenter cannot represent an OrderedDict (what a --query
// multiselect hash yields), so any result containing one goes through the
// JSON round trip, which also drops shared references. Otherwise a list or
// dict that appears twice (e.g. --query "[tags, tags]") gets an &idNNN
// anchor and *idNNN aliases, as PyYAML does.
//
// This is a port of PyYAML 6.0's SafeRepresenter, Serializer, Resolver and
// Emitter (pure Python) for the nodes JSON data produces.
func yamlDump(v any) string {
	if hasOrdered(v) {
		v = plainCopy(v)
	}
	r := &yamlRepresenter{seen: map[any]*ynode{}}
	root := r.represent(v)
	s := &yamlSerializer{anchors: map[*ynode]string{}, visited: map[*ynode]bool{}}
	s.anchorNode(root)
	e := newYAMLEmitter()
	e.document(root, s)
	return e.b.String()
}

type ykind int

const (
	yScalar ykind = iota
	ySeq
	yMap
)

type ynode struct {
	kind     ykind
	tag      string // scalars: str, int, float, bool, null
	value    string
	items    []*ynode
	keys     []*ynode
	vals     []*ynode
	isString bool
}

type yamlRepresenter struct {
	seen map[any]*ynode
}

func (r *yamlRepresenter) represent(v any) *ynode {
	switch t := v.(type) {
	case nil:
		return &ynode{kind: yScalar, tag: "null", value: "null"}
	case bool:
		if t {
			return &ynode{kind: yScalar, tag: "bool", value: "true"}
		}
		return &ynode{kind: yScalar, tag: "bool", value: "false"}
	case int64:
		return &ynode{kind: yScalar, tag: "int", value: strconv.FormatInt(t, 10)}
	case *big.Int:
		return &ynode{kind: yScalar, tag: "int", value: t.String()}
	case float64:
		return &ynode{kind: yScalar, tag: "float", value: yamlFloat(t)}
	case string:
		return &ynode{kind: yScalar, tag: "str", value: t, isString: true}
	case *array:
		if n, ok := r.seen[t]; ok {
			return n
		}
		n := &ynode{kind: ySeq}
		r.seen[t] = n
		for _, x := range t.items {
			n.items = append(n.items, r.represent(x))
		}
		return n
	case *object:
		if n, ok := r.seen[t]; ok {
			return n
		}
		n := &ynode{kind: yMap}
		r.seen[t] = n
		// sorted(mapping.items()): keys are unique strings.
		for _, k := range t.sortedKeys() {
			n.keys = append(n.keys, r.represent(k))
			n.vals = append(n.vals, r.represent(t.vals[k]))
		}
		return n
	}
	return &ynode{kind: yScalar, tag: "str", value: pyStr(v), isString: true}
}

// yamlFloat is SafeRepresenter.represent_float.
func yamlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strings.ToLower(pyFloatRepr(f))
	if !strings.Contains(s, ".") && strings.Contains(s, "e") {
		s = strings.Replace(s, "e", ".0e", 1)
	}
	return s
}

type yamlSerializer struct {
	anchors map[*ynode]string
	visited map[*ynode]bool
	last    int
	emitted map[*ynode]bool
}

// anchorNode is Serializer.anchor_node: a collection met a second time
// gets the next idNNN.
func (s *yamlSerializer) anchorNode(n *ynode) {
	if s.visited[n] {
		if s.anchors[n] == "" {
			s.last++
			s.anchors[n] = "id" + leftPad(strconv.Itoa(s.last), 3)
		}
		return
	}
	s.visited[n] = true
	switch n.kind {
	case ySeq:
		for _, x := range n.items {
			s.anchorNode(x)
		}
	case yMap:
		for i := range n.keys {
			s.anchorNode(n.keys[i])
			s.anchorNode(n.vals[i])
		}
	}
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// --- resolver ---------------------------------------------------------------

type implicitResolver struct {
	first string // characters the value may start with; "" entry means empty value
	re    *regexp.Regexp
	empty bool
}

var yamlResolvers = []implicitResolver{
	{first: "yYnNtTfFoO", re: regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)},
	{first: "-+0123456789.", re: regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)},
	{first: "-+0123456789", re: regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)},
	{first: "<", re: regexp.MustCompile(`^(?:<<)$`)},
	{first: "~nN", re: regexp.MustCompile(`^(?:~|null|Null|NULL|)$`), empty: true},
	{first: "0123456789", re: regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)},
	{first: "=", re: regexp.MustCompile(`^(?:=)$`)},
	{first: "!&*", re: regexp.MustCompile(`^(?:!|&|\*)$`)},
}

// resolvesToStr reports whether a plain scalar with this text would be read
// back as a string (Resolver.resolve(ScalarNode, value, (True, False))).
func resolvesToStr(v string) bool {
	for _, r := range yamlResolvers {
		if v == "" {
			if r.empty && r.re.MatchString(v) {
				return false
			}
			continue
		}
		first := []rune(v)[0]
		if strings.ContainsRune(r.first, first) && r.re.MatchString(v) {
			return false
		}
	}
	return true
}

// --- emitter ------------------------------------------------------------------

type scalarAnalysis struct {
	scalar                                       []rune
	empty, multiline                             bool
	allowFlowPlain, allowBlockPlain              bool
	allowSingleQuoted, allowDoubleQuoted, allowB bool
}

type yamlEmitter struct {
	b          strings.Builder
	indents    []int
	indent     int // -1 is None
	flowLevel  int
	root       bool
	sequence   bool
	mapping    bool
	simpleKey  bool
	column     int
	whitespace bool
	indention  bool
	openEnded  bool
	bestIndent int
	bestWidth  int
	ser        *yamlSerializer
}

func newYAMLEmitter() *yamlEmitter {
	return &yamlEmitter{indent: -1, whitespace: true, indention: true, bestIndent: 2, bestWidth: 80}
}

func (e *yamlEmitter) document(root *ynode, s *yamlSerializer) {
	e.ser = s
	s.emitted = map[*ynode]bool{}
	// implicit document start: nothing written
	e.expectNode(root, true, false, false, false)
	// DocumentEnd
	e.writeIndent()
	// StreamEnd
	if e.openEnded {
		e.writeIndicator("...", true, false, false)
		e.writeIndent()
	}
}

func (e *yamlEmitter) increaseIndent(flow, indentless bool) {
	e.indents = append(e.indents, e.indent)
	if e.indent < 0 {
		if flow {
			e.indent = e.bestIndent
		} else {
			e.indent = 0
		}
	} else if !indentless {
		e.indent += e.bestIndent
	}
}

func (e *yamlEmitter) popIndent() {
	e.indent = e.indents[len(e.indents)-1]
	e.indents = e.indents[:len(e.indents)-1]
}

func (e *yamlEmitter) expectNode(n *ynode, root, sequence, mapping, simpleKey bool) {
	e.root, e.sequence, e.mapping, e.simpleKey = root, sequence, mapping, simpleKey
	anchor := e.ser.anchors[n]
	if e.ser.emitted[n] {
		// AliasEvent
		e.writeIndicator("*"+anchor, true, false, false)
		return
	}
	e.ser.emitted[n] = true
	if anchor != "" {
		e.writeIndicator("&"+anchor, true, false, false)
	}
	switch n.kind {
	case yScalar:
		e.increaseIndent(true, false)
		e.processScalar(n)
		e.popIndent()
	case ySeq:
		if e.flowLevel > 0 || len(n.items) == 0 {
			e.writeIndicator("[", true, true, false)
			e.flowLevel++
			e.increaseIndent(true, false)
			for i, x := range n.items { // never reached for JSON data
				if i > 0 {
					e.writeIndicator(",", false, false, false)
				}
				if e.column > e.bestWidth {
					e.writeIndent()
				}
				e.expectNode(x, false, true, false, false)
			}
			e.popIndent()
			e.flowLevel--
			e.writeIndicator("]", false, false, false)
			return
		}
		indentless := e.mapping && !e.indention
		e.increaseIndent(false, indentless)
		for _, x := range n.items {
			e.writeIndent()
			e.writeIndicator("-", true, false, true)
			e.expectNode(x, false, true, false, false)
		}
		e.popIndent()
	case yMap:
		if e.flowLevel > 0 || len(n.keys) == 0 {
			e.writeIndicator("{", true, true, false)
			e.flowLevel++
			e.increaseIndent(true, false)
			for i := range n.keys { // never reached for JSON data
				if i > 0 {
					e.writeIndicator(",", false, false, false)
				}
				if e.column > e.bestWidth {
					e.writeIndent()
				}
				if e.checkSimpleKey(n.keys[i]) {
					e.expectNode(n.keys[i], false, false, true, true)
					e.writeIndicator(":", false, false, false)
				} else {
					e.writeIndicator("?", true, false, false)
					e.expectNode(n.keys[i], false, false, true, false)
					if e.column > e.bestWidth {
						e.writeIndent()
					}
					e.writeIndicator(":", true, false, false)
				}
				e.expectNode(n.vals[i], false, false, true, false)
			}
			e.popIndent()
			e.flowLevel--
			e.writeIndicator("}", false, false, false)
			return
		}
		e.increaseIndent(false, false)
		for i := range n.keys {
			e.writeIndent()
			if e.checkSimpleKey(n.keys[i]) {
				e.expectNode(n.keys[i], false, false, true, true)
				e.writeIndicator(":", false, false, false)
			} else {
				e.writeIndicator("?", true, false, true)
				e.expectNode(n.keys[i], false, false, true, false)
				e.writeIndent()
				e.writeIndicator(":", true, false, true)
			}
			e.expectNode(n.vals[i], false, false, true, false)
		}
		e.popIndent()
	}
}

// checkSimpleKey is Emitter.check_simple_key for a key node. Scalars carry
// the tag '!!str' (5 characters) in the length count.
func (e *yamlEmitter) checkSimpleKey(n *ynode) bool {
	length := 0
	if a := e.ser.anchors[n]; a != "" {
		length += len(a)
	}
	if e.ser.emitted[n] {
		return length < 128 // alias
	}
	switch n.kind {
	case yScalar:
		length += len("!!" + n.tag)
		a := analyzeScalar([]rune(n.value))
		length += len(a.scalar)
		return length < 128 && !a.empty && !a.multiline
	case ySeq:
		length += len("!!seq")
		return length < 128 && len(n.items) == 0
	case yMap:
		length += len("!!map")
		return length < 128 && len(n.keys) == 0
	}
	return false
}

func isBreakChar(r rune) bool {
	return r == '\n' || r == '\u0085' || r == '\u2028' || r == '\u2029'
}

func isSpaceOrBreak0(r rune) bool {
	return r == 0 || r == ' ' || r == '\t' || r == '\r' || isBreakChar(r)
}

// analyzeScalar is Emitter.analyze_scalar with allow_unicode=True.
func analyzeScalar(s []rune) scalarAnalysis {
	if len(s) == 0 {
		return scalarAnalysis{scalar: s, empty: true, allowBlockPlain: true,
			allowSingleQuoted: true, allowDoubleQuoted: true}
	}
	var blockInd, flowInd, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	str := string(s)
	if strings.HasPrefix(str, "---") || strings.HasPrefix(str, "...") {
		blockInd, flowInd = true, true
	}
	preceded := true
	followed := len(s) == 1 || isSpaceOrBreak0(s[1])
	prevSpace, prevBreak := false, false
	for i, ch := range s {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				flowInd, blockInd = true, true
			}
			if ch == '?' || ch == ':' {
				flowInd = true
				if followed {
					blockInd = true
				}
			}
			if ch == '-' && followed {
				flowInd, blockInd = true, true
			}
		} else {
			if strings.ContainsRune(",?[]{}", ch) {
				flowInd = true
			}
			if ch == ':' {
				flowInd = true
				if followed {
					blockInd = true
				}
			}
			if ch == '#' && preceded {
				flowInd, blockInd = true, true
			}
		}
		if isBreakChar(ch) {
			lineBreaks = true
		}
		if !(ch == '\n' || (ch >= 0x20 && ch <= 0x7e)) {
			if (ch == 0x85 || (ch >= 0xa0 && ch <= 0xd7ff) || (ch >= 0xe000 && ch <= 0xfffd) ||
				(ch >= 0x10000 && ch < 0x10ffff)) && ch != 0xfeff {
				// unicode character, allowed
			} else {
				special = true
			}
		}
		if ch == ' ' {
			if i == 0 {
				leadingSpace = true
			}
			if i == len(s)-1 {
				trailingSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		} else if isBreakChar(ch) {
			if i == 0 {
				leadingBreak = true
			}
			if i == len(s)-1 {
				trailingBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		} else {
			prevSpace, prevBreak = false, false
		}
		preceded = isSpaceOrBreak0(ch)
		followed = i+2 >= len(s) || isSpaceOrBreak0(s[i+2])
	}
	a := scalarAnalysis{scalar: s, multiline: lineBreaks, allowFlowPlain: true, allowBlockPlain: true,
		allowSingleQuoted: true, allowDoubleQuoted: true, allowB: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if trailingSpace {
		a.allowB = false
	}
	if breakSpace {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSingleQuoted = false, false, false
	}
	if spaceBreak || special {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSingleQuoted, a.allowB = false, false, false, false
	}
	if lineBreaks {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if flowInd {
		a.allowFlowPlain = false
	}
	if blockInd {
		a.allowBlockPlain = false
	}
	return a
}

func (e *yamlEmitter) processScalar(n *ynode) {
	a := analyzeScalar([]rune(n.value))
	implicitPlain := !n.isString || resolvesToStr(n.value)
	style := byte('"')
	switch {
	case implicitPlain && !(e.simpleKey && (a.empty || a.multiline)) &&
		(e.flowLevel > 0 && a.allowFlowPlain || e.flowLevel == 0 && a.allowBlockPlain):
		style = 0
	case a.allowSingleQuoted && !(e.simpleKey && a.multiline):
		style = '\''
	}
	split := !e.simpleKey
	switch style {
	case '"':
		e.writeDoubleQuoted(a.scalar, split)
	case '\'':
		e.writeSingleQuoted(a.scalar, split)
	default:
		e.writePlain(a.scalar, split)
	}
}

func (e *yamlEmitter) write(s string) {
	e.b.WriteString(s)
}

func (e *yamlEmitter) writeIndicator(ind string, needWhitespace, whitespace, indention bool) {
	data := ind
	if !e.whitespace && needWhitespace {
		data = " " + ind
	}
	e.whitespace = whitespace
	e.indention = e.indention && indention
	e.column += pyLen(data)
	e.openEnded = false
	e.write(data)
}

func (e *yamlEmitter) writeIndent() {
	indent := max(e.indent, 0)
	if !e.indention || e.column > indent || (e.column == indent && !e.whitespace) {
		e.writeLineBreak("")
	}
	if e.column < indent {
		e.whitespace = true
		e.write(strings.Repeat(" ", indent-e.column))
		e.column = indent
	}
}

func (e *yamlEmitter) writeLineBreak(data string) {
	if data == "" {
		data = "\n"
	}
	e.whitespace = true
	e.indention = true
	e.column = 0
	e.write(data)
}

// writeBreaks writes a run of line breaks inside a quoted or plain scalar
// as PyYAML does (a leading \n is written twice: folding eats one), then
// indents.
func (e *yamlEmitter) writeBreaks(run []rune) {
	if run[0] == '\n' {
		e.writeLineBreak("")
	}
	for _, br := range run {
		if br == '\n' {
			e.writeLineBreak("")
		} else {
			e.writeLineBreak(string(br))
		}
	}
	e.writeIndent()
}

func (e *yamlEmitter) writeRunes(r []rune) {
	e.column += len(r)
	e.write(string(r))
}

func (e *yamlEmitter) writeSingleQuoted(text []rune, split bool) {
	e.writeIndicator("'", true, false, false)
	spaces, breaks := false, false
	start, end := 0, 0
	for end <= len(text) {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		if spaces {
			if ch == -1 || ch != ' ' {
				if start+1 == end && e.column > e.bestWidth && split && start != 0 && end != len(text) {
					e.writeIndent()
				} else {
					e.writeRunes(text[start:end])
				}
				start = end
			}
		} else if breaks {
			if ch == -1 || !isBreakChar(ch) {
				e.writeBreaks(text[start:end])
				start = end
			}
		} else {
			if ch == -1 || ch == ' ' || isBreakChar(ch) || ch == '\'' {
				if start < end {
					e.writeRunes(text[start:end])
					start = end
				}
			}
		}
		if ch == '\'' {
			e.column += 2
			e.write("''")
			start = end + 1
		}
		if ch != -1 {
			spaces = ch == ' '
			breaks = isBreakChar(ch)
		}
		end++
	}
	e.writeIndicator("'", false, false, false)
}

var yamlEscapes = map[rune]string{
	0: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0a: "n", 0x0b: "v", 0x0c: "f",
	0x0d: "r", 0x1b: "e", '"': "\"", '\\': "\\", 0x85: "N", 0xa0: "_",
	0x2028: "L", 0x2029: "P",
}

func (e *yamlEmitter) writeDoubleQuoted(text []rune, split bool) {
	e.writeIndicator("\"", true, false, false)
	start, end := 0, 0
	for end <= len(text) {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		if ch == -1 || ch == '"' || ch == '\\' || ch == 0x85 || ch == 0x2028 || ch == 0x2029 || ch == 0xfeff ||
			!((ch >= 0x20 && ch <= 0x7e) || (ch >= 0xa0 && ch <= 0xd7ff) || (ch >= 0xe000 && ch <= 0xfffd)) {
			if start < end {
				e.writeRunes(text[start:end])
				start = end
			}
			if ch != -1 {
				var data string
				if esc, ok := yamlEscapes[ch]; ok {
					data = "\\" + esc
				} else if ch <= 0xff {
					data = "\\x" + strings.ToUpper(leftPad(strconv.FormatInt(int64(ch), 16), 2))
				} else if ch <= 0xffff {
					data = "\\u" + strings.ToUpper(leftPad(strconv.FormatInt(int64(ch), 16), 4))
				} else {
					data = "\\U" + strings.ToUpper(leftPad(strconv.FormatInt(int64(ch), 16), 8))
				}
				e.column += len(data)
				e.write(data)
				start = end + 1
			}
		}
		if 0 < end && end < len(text)-1 && (ch == ' ' || start >= end) && e.column+(end-start) > e.bestWidth && split {
			data := "\\"
			if start < end {
				data = string(text[start:end]) + "\\"
			}
			if start < end {
				start = end
			}
			e.column += pyLen(data)
			e.write(data)
			e.writeIndent()
			e.whitespace = false
			e.indention = false
			if text[start] == ' ' {
				e.column++
				e.write("\\")
			}
		}
		end++
	}
	e.writeIndicator("\"", false, false, false)
}

func (e *yamlEmitter) writePlain(text []rune, split bool) {
	if e.root {
		e.openEnded = true
	}
	if len(text) == 0 {
		return
	}
	if !e.whitespace {
		e.column++
		e.write(" ")
	}
	e.whitespace = false
	e.indention = false
	spaces, breaks := false, false
	start, end := 0, 0
	for end <= len(text) {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		if spaces {
			if ch != ' ' {
				if start+1 == end && e.column > e.bestWidth && split {
					e.writeIndent()
					e.whitespace = false
					e.indention = false
				} else {
					e.writeRunes(text[start:end])
				}
				start = end
			}
		} else if breaks {
			if ch == -1 || !isBreakChar(ch) {
				e.writeBreaks(text[start:end])
				e.whitespace = false
				e.indention = false
				start = end
			}
		} else {
			if ch == -1 || ch == ' ' || isBreakChar(ch) {
				e.writeRunes(text[start:end])
				start = end
			}
		}
		if ch != -1 {
			spaces = ch == ' '
			breaks = isBreakChar(ch)
		}
		end++
	}
}
