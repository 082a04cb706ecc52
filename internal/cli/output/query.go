package output

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// az runs --query with Python's jmespath 1.0.1:
//
//	jmespath.compile(query).search(result, jmespath.Options(collections.OrderedDict))
//
// This file is a port of its lexer.py, parser.py, visitor.py and
// functions.py over the value model in value.go, so that az's dialect is
// reproduced exactly: ints stay ints and floats floats, multiselect hashes
// are OrderedDicts, the JEP-12 legacy `literal` strings are accepted,
// community extensions (arithmetic, $root, let) are syntax errors, the
// parser's quirk that foo[0][1:] is not a projection is kept, and error
// messages read like Python's. (github.com/jmespath-community/go-jmespath
// implements the JMESPath Community dialect, whose grammar and results
// differ from az's in those places.)

// jmesError is a jmespath.exceptions.JMESPathError raised while searching.
type jmesError struct{ msg string }

func (e *jmesError) Error() string { return e.msg }

// pyRuntimeError is any other Python exception raised while searching
// (TypeError, ValueError, OverflowError).
type pyRuntimeError struct{ msg string }

func (e *pyRuntimeError) Error() string { return e.msg }

type expref struct{ node *qnode }

// --- lexer (jmespath/lexer.py) --------------------------------------------

type qtoken struct {
	typ  string
	text string // unquoted identifiers
	num  int    // numbers
	lit  any    // literals: the value; quoted identifiers: the name
}

var simpleTokens = map[rune]string{
	'.': "dot", '*': "star", ']': "rbracket", ',': "comma", ':': "colon",
	'@': "current", '(': "lparen", ')': "rparen", '{': "lbrace", '}': "rbrace",
}

func isIdentStart(r rune) bool {
	return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

func isIdentChar(r rune) bool { return isIdentStart(r) || (r >= '0' && r <= '9') }

type lexError struct{}

func (lexError) Error() string { return "lexer error" }

func lexQuery(expr string) ([]qtoken, error) {
	chars := []rune(expr)
	if len(chars) == 0 {
		return nil, lexError{}
	}
	pos := 0
	cur := func() rune {
		if pos >= len(chars) {
			return -1
		}
		return chars[pos]
	}
	next := func() rune {
		if pos < len(chars) {
			pos++
		}
		return cur()
	}
	// consumeUntil is Lexer._consume_until: a backslash keeps itself and
	// the next character.
	consumeUntil := func(delim rune) (string, error) {
		var b strings.Builder
		next()
		for cur() != delim {
			if cur() == '\\' {
				b.WriteRune('\\')
				next()
			}
			if cur() == -1 {
				return "", lexError{}
			}
			b.WriteRune(cur())
			next()
		}
		next()
		return b.String(), nil
	}
	var toks []qtoken
	for cur() != -1 {
		c := cur()
		switch {
		case simpleTokens[c] != "":
			toks = append(toks, qtoken{typ: simpleTokens[c], text: string(c)})
			next()
		case isIdentStart(c):
			start := pos
			for isIdentChar(next()) {
			}
			toks = append(toks, qtoken{typ: "unquoted_identifier", text: string(chars[start:pos])})
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			next()
		case c == '[':
			switch next() {
			case ']':
				next()
				toks = append(toks, qtoken{typ: "flatten", text: "[]"})
			case '?':
				next()
				toks = append(toks, qtoken{typ: "filter", text: "[?"})
			default:
				toks = append(toks, qtoken{typ: "lbracket", text: "["})
			}
		case c == '\'':
			s, err := consumeUntil('\'')
			if err != nil {
				return nil, err
			}
			toks = append(toks, qtoken{typ: "literal", lit: strings.ReplaceAll(s, `\'`, `'`)})
		case c == '|':
			if next() == '|' {
				next()
				toks = append(toks, qtoken{typ: "or", text: "||"})
			} else {
				toks = append(toks, qtoken{typ: "pipe", text: "|"})
			}
		case c == '&':
			if next() == '&' {
				next()
				toks = append(toks, qtoken{typ: "and", text: "&&"})
			} else {
				toks = append(toks, qtoken{typ: "expref", text: "&"})
			}
		case c == '`':
			s, err := consumeUntil('`')
			if err != nil {
				return nil, err
			}
			s = strings.ReplaceAll(s, "\\`", "`")
			v, err := parsePyJSON(s)
			if err != nil {
				// JEP-12 deprecation period: an invalid JSON literal is a
				// string, loads('"%s"' % lexeme.lstrip()).
				v, err = parsePyJSON(`"` + strings.TrimLeftFunc(s, pyIsSpace) + `"`)
				if err != nil {
					return nil, lexError{}
				}
			}
			toks = append(toks, qtoken{typ: "literal", lit: v})
		case (c >= '0' && c <= '9') || c == '-':
			start := pos
			for d := next(); d >= '0' && d <= '9'; d = next() {
			}
			text := string(chars[start:pos])
			if text == "-" {
				return nil, lexError{}
			}
			n, err := strconv.Atoi(text)
			if err != nil {
				return nil, lexError{} // an index beyond int64
			}
			toks = append(toks, qtoken{typ: "number", num: n})
		case c == '"':
			s, err := consumeUntil('"')
			if err != nil {
				return nil, err
			}
			v, err := parsePyJSON(`"` + s + `"`)
			if err != nil {
				return nil, lexError{}
			}
			name, ok := v.(string)
			if !ok {
				return nil, lexError{}
			}
			toks = append(toks, qtoken{typ: "quoted_identifier", lit: name})
		case c == '<' || c == '>' || c == '!':
			base := map[rune]string{'<': "lt", '>': "gt", '!': "not"}[c]
			if next() == '=' {
				next()
				eq := map[rune]string{'<': "lte", '>': "gte", '!': "ne"}[c]
				toks = append(toks, qtoken{typ: eq, text: string(c) + "="})
			} else {
				toks = append(toks, qtoken{typ: base, text: string(c)})
			}
		case c == '=':
			if next() != '=' {
				return nil, lexError{}
			}
			next()
			toks = append(toks, qtoken{typ: "eq", text: "=="})
		default:
			return nil, lexError{}
		}
	}
	return toks, nil
}

// --- compiled tree -------------------------------------------------------

type qkind int

const (
	qField qkind = iota
	qChain       // subexpression, index expression, pipe: feed left into right
	qComparator
	qCurrent
	qExpref
	qFunction
	qFilter
	qFlatten
	qIndex
	qSlice
	qLiteral
	qMultiHash
	qMultiList
	qOr
	qAnd
	qNot
	qProjection
	qValueProjection
)

type qnode struct {
	kind     qkind
	name     string // field, function, comparator op
	keys     []string
	index    int
	slice    [3]*int
	lit      any
	isIndex  bool // a qChain that is an index_expression
	children []*qnode
}

// compiledQuery is a parsed --query.
type compiledQuery struct {
	expr string
	root *qnode
}

type parseError struct{}

func (parseError) Error() string { return "parse error" }

func compileQuery(expr string) (q *compiledQuery, err error) {
	toks, err := lexQuery(expr)
	if err != nil {
		return nil, err
	}
	toks = append(toks, qtoken{typ: "eof"})
	p := &qparser{toks: toks}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(parseError); !ok {
				panic(r)
			}
			q, err = nil, parseError{}
		}
	}()
	root := p.expression(0)
	if p.current() != "eof" {
		p.fail()
	}
	return &compiledQuery{expr: expr, root: root}, nil
}

// --- parser (jmespath/parser.py) ---------------------------------------------

var bindingPower = map[string]int{
	"eof": 0, "unquoted_identifier": 0, "quoted_identifier": 0, "literal": 0,
	"rbracket": 0, "rparen": 0, "comma": 0, "rbrace": 0, "number": 0,
	"current": 0, "expref": 0, "colon": 0, "pipe": 1, "or": 2, "and": 3,
	"eq": 5, "gt": 5, "lt": 5, "gte": 5, "lte": 5, "ne": 5, "flatten": 9,
	"star": 20, "filter": 21, "dot": 40, "not": 45, "lbrace": 50,
	"lbracket": 55, "lparen": 60,
}

const projectionStop = 10

type qparser struct {
	toks []qtoken
	i    int
}

func (p *qparser) fail()                  { panic(parseError{}) }
func (p *qparser) current() string        { return p.toks[p.i].typ }
func (p *qparser) lookahead(n int) string { return p.toks[min(p.i+n, len(p.toks)-1)].typ }
func (p *qparser) token(n int) qtoken     { return p.toks[min(p.i+n, len(p.toks)-1)] }
func (p *qparser) advance()               { p.i = min(p.i+1, len(p.toks)-1) }

func (p *qparser) match(typ string) {
	if p.current() != typ {
		p.fail()
	}
	p.advance()
}

func identity() *qnode { return &qnode{kind: qCurrent} }

func (p *qparser) expression(bp int) *qnode {
	left := p.nud(p.token(0))
	for bp < bindingPower[p.current()] {
		left = p.led(p.current(), left)
	}
	return left
}

func (p *qparser) nud(t qtoken) *qnode {
	p.advance()
	switch t.typ {
	case "literal":
		return &qnode{kind: qLiteral, lit: t.lit}
	case "unquoted_identifier":
		return &qnode{kind: qField, name: t.text}
	case "quoted_identifier":
		if p.current() == "lparen" {
			p.fail()
		}
		return &qnode{kind: qField, name: t.lit.(string)}
	case "star":
		var right *qnode
		if p.current() == "rbracket" {
			right = identity()
		} else {
			right = p.projectionRHS(bindingPower["star"])
		}
		return &qnode{kind: qValueProjection, children: []*qnode{identity(), right}}
	case "filter":
		return p.ledFilter(identity())
	case "lbrace":
		return p.multiSelectHash()
	case "lparen":
		e := p.expression(0)
		p.match("rparen")
		return e
	case "flatten":
		left := &qnode{kind: qFlatten, children: []*qnode{identity()}}
		return &qnode{kind: qProjection, children: []*qnode{left, p.projectionRHS(bindingPower["flatten"])}}
	case "not":
		return &qnode{kind: qNot, children: []*qnode{p.expression(bindingPower["not"])}}
	case "lbracket":
		if c := p.current(); c == "number" || c == "colon" {
			return p.projectIfSlice(identity(), p.indexExpression())
		}
		if p.current() == "star" && p.lookahead(1) == "rbracket" {
			p.advance()
			p.advance()
			right := p.projectionRHS(bindingPower["star"])
			return &qnode{kind: qProjection, children: []*qnode{identity(), right}}
		}
		return p.multiSelectList()
	case "current":
		return identity()
	case "expref":
		return &qnode{kind: qExpref, children: []*qnode{p.expression(bindingPower["expref"])}}
	}
	p.fail()
	return nil
}

func (p *qparser) led(typ string, left *qnode) *qnode {
	switch typ {
	case "dot":
		p.advance()
		if p.current() != "star" {
			right := p.dotRHS(bindingPower["dot"])
			return &qnode{kind: qChain, children: []*qnode{left, right}}
		}
		p.advance()
		right := p.projectionRHS(bindingPower["dot"])
		return &qnode{kind: qValueProjection, children: []*qnode{left, right}}
	case "pipe", "or", "and":
		p.advance()
		right := p.expression(bindingPower[typ])
		kind := map[string]qkind{"pipe": qChain, "or": qOr, "and": qAnd}[typ]
		return &qnode{kind: kind, children: []*qnode{left, right}}
	case "lparen":
		p.advance()
		if left.kind != qField || left.isIndex {
			p.fail()
		}
		fn := &qnode{kind: qFunction, name: left.name}
		for p.current() != "rparen" {
			e := p.expression(0)
			if p.current() == "comma" {
				p.match("comma")
			}
			fn.children = append(fn.children, e)
		}
		p.match("rparen")
		return fn
	case "filter":
		p.advance()
		return p.ledFilter(left)
	case "eq", "ne", "gt", "gte", "lt", "lte":
		p.advance()
		right := p.expression(bindingPower[typ])
		return &qnode{kind: qComparator, name: typ, children: []*qnode{left, right}}
	case "flatten":
		p.advance()
		l := &qnode{kind: qFlatten, children: []*qnode{left}}
		return &qnode{kind: qProjection, children: []*qnode{l, p.projectionRHS(bindingPower["flatten"])}}
	case "lbracket":
		p.advance()
		if c := p.current(); c == "number" || c == "colon" {
			right := p.indexExpression()
			if left.kind == qChain && left.isIndex {
				// jmespath 1.0.1 appends to an index expression, so a
				// slice after foo[0] does not start a projection.
				left.children = append(left.children, right)
				return left
			}
			return p.projectIfSlice(left, right)
		}
		p.match("star")
		p.match("rbracket")
		right := p.projectionRHS(bindingPower["star"])
		return &qnode{kind: qProjection, children: []*qnode{left, right}}
	}
	p.fail()
	return nil
}

func (p *qparser) ledFilter(left *qnode) *qnode {
	cond := p.expression(0)
	p.match("rbracket")
	var right *qnode
	if p.current() == "flatten" {
		right = identity()
	} else {
		right = p.projectionRHS(bindingPower["filter"])
	}
	return &qnode{kind: qFilter, children: []*qnode{left, right, cond}}
}

func (p *qparser) indexExpression() *qnode {
	if p.lookahead(0) == "colon" || p.lookahead(1) == "colon" {
		return p.sliceExpression()
	}
	t := p.token(0)
	if t.typ != "number" {
		p.fail()
	}
	p.advance()
	p.match("rbracket")
	return &qnode{kind: qIndex, index: t.num}
}

func (p *qparser) sliceExpression() *qnode {
	n := &qnode{kind: qSlice}
	index := 0
	for p.current() != "rbracket" && index < 3 {
		switch p.current() {
		case "colon":
			index++
			if index == 3 {
				p.fail()
			}
			p.advance()
		case "number":
			v := p.token(0).num
			n.slice[index] = &v
			p.advance()
		default:
			p.fail()
		}
	}
	p.match("rbracket")
	return n
}

func (p *qparser) projectIfSlice(left, right *qnode) *qnode {
	ie := &qnode{kind: qChain, isIndex: true, children: []*qnode{left, right}}
	if right.kind == qSlice {
		return &qnode{kind: qProjection, children: []*qnode{ie, p.projectionRHS(bindingPower["star"])}}
	}
	return ie
}

func (p *qparser) multiSelectList() *qnode {
	n := &qnode{kind: qMultiList}
	for {
		n.children = append(n.children, p.expression(0))
		if p.current() == "rbracket" {
			break
		}
		p.match("comma")
	}
	p.match("rbracket")
	return n
}

func (p *qparser) multiSelectHash() *qnode {
	n := &qnode{kind: qMultiHash}
	for {
		t := p.token(0)
		var key string
		switch t.typ {
		case "quoted_identifier":
			key = t.lit.(string)
		case "unquoted_identifier":
			key = t.text
		default:
			p.fail()
		}
		p.advance()
		p.match("colon")
		n.keys = append(n.keys, key)
		n.children = append(n.children, p.expression(0))
		if p.current() == "comma" {
			p.match("comma")
		} else if p.current() == "rbrace" {
			p.match("rbrace")
			break
		}
	}
	return n
}

func (p *qparser) projectionRHS(bp int) *qnode {
	switch c := p.current(); {
	case bindingPower[c] < projectionStop:
		return identity()
	case c == "lbracket", c == "filter":
		return p.expression(bp)
	case c == "dot":
		p.match("dot")
		return p.dotRHS(bp)
	}
	p.fail()
	return nil
}

func (p *qparser) dotRHS(bp int) *qnode {
	switch p.current() {
	case "quoted_identifier", "unquoted_identifier", "star":
		return p.expression(bp)
	case "lbracket":
		p.match("lbracket")
		return p.multiSelectList()
	case "lbrace":
		p.match("lbrace")
		return p.multiSelectHash()
	}
	p.fail()
	return nil
}

// --- interpreter (jmespath/visitor.py) -----------------------------------

func (c *compiledQuery) search(v any) (any, error) {
	return visit(c.root, v)
}

func visit(n *qnode, v any) (any, error) {
	switch n.kind {
	case qField:
		if o, ok := v.(*object); ok {
			x, _ := o.get(n.name)
			return x, nil
		}
		return nil, nil
	case qChain:
		r := v
		for _, c := range n.children {
			var err error
			if r, err = visit(c, r); err != nil {
				return nil, err
			}
		}
		return r, nil
	case qComparator:
		l, err := visit(n.children[0], v)
		if err != nil {
			return nil, err
		}
		r, err := visit(n.children[1], v)
		if err != nil {
			return nil, err
		}
		switch n.name {
		case "eq":
			return jmesEquals(l, r), nil
		case "ne":
			return !jmesEquals(l, r), nil
		}
		if !isComparable(l) || !isComparable(r) {
			return nil, nil
		}
		return pyOrder(n.name, l, r)
	case qCurrent:
		return v, nil
	case qExpref:
		return &expref{node: n.children[0]}, nil
	case qFunction:
		args := make([]any, len(n.children))
		for i, c := range n.children {
			a, err := visit(c, v)
			if err != nil {
				return nil, err
			}
			args[i] = a
		}
		return callFunction(n.name, args)
	case qFilter:
		base, err := visit(n.children[0], v)
		if err != nil {
			return nil, err
		}
		list, ok := base.(*array)
		if !ok {
			return nil, nil
		}
		out := &array{items: []any{}}
		for _, el := range list.items {
			cond, err := visit(n.children[2], el)
			if err != nil {
				return nil, err
			}
			if isFalse(cond) {
				continue
			}
			cur, err := visit(n.children[1], el)
			if err != nil {
				return nil, err
			}
			if cur != nil {
				out.items = append(out.items, cur)
			}
		}
		return out, nil
	case qFlatten:
		base, err := visit(n.children[0], v)
		if err != nil {
			return nil, err
		}
		list, ok := base.(*array)
		if !ok {
			return nil, nil
		}
		out := &array{items: []any{}}
		for _, el := range list.items {
			if sub, ok := el.(*array); ok {
				out.items = append(out.items, sub.items...)
			} else {
				out.items = append(out.items, el)
			}
		}
		return out, nil
	case qIndex:
		list, ok := v.(*array)
		if !ok {
			return nil, nil
		}
		i := n.index
		if i < 0 {
			i += len(list.items)
		}
		if i < 0 || i >= len(list.items) {
			return nil, nil
		}
		return list.items[i], nil
	case qSlice:
		list, ok := v.(*array)
		if !ok {
			return nil, nil
		}
		return pySlice(list, n.slice)
	case qLiteral:
		return n.lit, nil
	case qMultiHash:
		if v == nil {
			return nil, nil
		}
		o := newObject(true)
		for i, c := range n.children {
			x, err := visit(c, v)
			if err != nil {
				return nil, err
			}
			o.set(n.keys[i], x)
		}
		return o, nil
	case qMultiList:
		if v == nil {
			return nil, nil
		}
		out := &array{items: make([]any, 0, len(n.children))}
		for _, c := range n.children {
			x, err := visit(c, v)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, x)
		}
		return out, nil
	case qOr:
		m, err := visit(n.children[0], v)
		if err != nil {
			return nil, err
		}
		if isFalse(m) {
			return visit(n.children[1], v)
		}
		return m, nil
	case qAnd:
		m, err := visit(n.children[0], v)
		if err != nil {
			return nil, err
		}
		if isFalse(m) {
			return m, nil
		}
		return visit(n.children[1], v)
	case qNot:
		r, err := visit(n.children[0], v)
		if err != nil {
			return nil, err
		}
		if isActualNumber(r) {
			if c, ok := numCmp(r, int64(0)); ok && c == 0 {
				return false, nil
			}
		}
		return !pyTruthy(r), nil
	case qProjection, qValueProjection:
		base, err := visit(n.children[0], v)
		if err != nil {
			return nil, err
		}
		var items []any
		if n.kind == qProjection {
			list, ok := base.(*array)
			if !ok {
				return nil, nil
			}
			items = list.items
		} else {
			o, ok := base.(*object)
			if !ok {
				return nil, nil
			}
			for _, k := range o.keys {
				items = append(items, o.vals[k])
			}
		}
		out := &array{items: []any{}}
		for _, el := range items {
			cur, err := visit(n.children[1], el)
			if err != nil {
				return nil, err
			}
			if cur != nil {
				out.items = append(out.items, cur)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown node")
}

func pySlice(list *array, parts [3]*int) (any, error) {
	n := len(list.items)
	step := 1
	if parts[2] != nil {
		step = *parts[2]
		if step == 0 {
			return nil, &pyRuntimeError{"slice step cannot be zero"}
		}
	}
	var start, stop int
	adjust := func(p *int, def int) int {
		if p == nil {
			return def
		}
		i := *p
		if i < 0 {
			i += n
			if i < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
		} else if i >= n {
			if step < 0 {
				return n - 1
			}
			return n
		}
		return i
	}
	if step > 0 {
		start, stop = adjust(parts[0], 0), adjust(parts[1], n)
	} else {
		start, stop = adjust(parts[0], n-1), adjust(parts[1], -1)
	}
	out := &array{items: []any{}}
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		out.items = append(out.items, list.items[i])
	}
	return out, nil
}

// isFalse is TreeInterpreter._is_false.
func isFalse(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return !t
	case string:
		return t == ""
	case *array:
		return len(t.items) == 0
	case *object:
		return len(t.keys) == 0
	}
	return false
}

// pyTruthy is Python's bool().
func pyTruthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case int64:
		return t != 0
	case *big.Int:
		return t.Sign() != 0
	case float64:
		return t != 0
	case string:
		return t != ""
	case *array:
		return len(t.items) > 0
	case *object:
		return len(t.keys) > 0
	}
	return true
}

func isActualNumber(v any) bool {
	switch v.(type) {
	case int64, float64, *big.Int:
		return true
	}
	return false
}

func isComparable(v any) bool {
	_, s := v.(string)
	return s || isActualNumber(v)
}

// jmesEquals is visitor._equals: Python == except that 0 and 1 never equal
// a boolean at the top level.
func jmesEquals(x, y any) bool {
	if isActualNumber(x) && isZeroOrOne(x) {
		if _, ok := y.(bool); ok {
			return false
		}
	} else if isActualNumber(y) && isZeroOrOne(y) {
		if _, ok := x.(bool); ok {
			return false
		}
	}
	return pyEq(x, y)
}

func isZeroOrOne(v any) bool {
	c0, ok0 := numCmp(v, int64(0))
	c1, ok1 := numCmp(v, int64(1))
	return (ok0 && c0 == 0) || (ok1 && c1 == 0)
}

// asNumber maps bool to int the way Python's numeric tower does.
func asNumber(v any) (any, bool) {
	switch t := v.(type) {
	case bool:
		if t {
			return int64(1), true
		}
		return int64(0), true
	case int64, float64, *big.Int:
		return t, true
	}
	return nil, false
}

// pyEq is Python ==.
func pyEq(x, y any) bool {
	if a, ok := asNumber(x); ok {
		b, ok := asNumber(y)
		if !ok {
			return false
		}
		c, ok := numCmp(a, b)
		return ok && c == 0
	}
	switch a := x.(type) {
	case nil:
		return y == nil
	case string:
		b, ok := y.(string)
		return ok && a == b
	case *array:
		b, ok := y.(*array)
		if !ok || len(a.items) != len(b.items) {
			return false
		}
		if a == b {
			return true
		}
		for i := range a.items {
			if a.items[i] != b.items[i] && !pyEq(a.items[i], b.items[i]) {
				return false
			}
		}
		return true
	case *object:
		b, ok := y.(*object)
		if !ok || len(a.keys) != len(b.keys) {
			return false
		}
		if a == b {
			return true
		}
		if a.ordered && b.ordered {
			for i := range a.keys {
				if a.keys[i] != b.keys[i] {
					return false
				}
			}
		}
		for _, k := range a.keys {
			bv, ok := b.vals[k]
			if !ok {
				return false
			}
			av := a.vals[k]
			if av != bv && !pyEq(av, bv) {
				return false
			}
		}
		return true
	case *expref:
		return x == y
	}
	return false
}

func toBigFloat(v any) (*big.Float, bool) {
	switch t := v.(type) {
	case int64:
		return new(big.Float).SetPrec(64).SetInt64(t), true
	case *big.Int:
		return new(big.Float).SetPrec(uint(t.BitLen()) + 1).SetInt(t), true
	case float64:
		if math.IsNaN(t) {
			return nil, false
		}
		return new(big.Float).SetFloat64(t), true
	}
	return nil, false
}

// numCmp compares two numbers exactly, as Python does across int and
// float. ok is false when a NaN is involved.
func numCmp(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			switch {
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case math.IsNaN(x) || math.IsNaN(y):
				return 0, false
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
	}
	fa, ok := toBigFloat(a)
	if !ok {
		return 0, false
	}
	fb, ok := toBigFloat(b)
	if !ok {
		return 0, false
	}
	return fa.Cmp(fb), true
}

func opSymbol(op string) string {
	return map[string]string{"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
}

// pyOrder is operator.lt/le/gt/ge on two comparable values.
func pyOrder(op string, l, r any) (any, error) {
	ls, lstr := l.(string)
	rs, rstr := r.(string)
	var c int
	switch {
	case lstr && rstr:
		c = strings.Compare(ls, rs)
	case !lstr && !rstr:
		var ok bool
		if c, ok = numCmp(l, r); !ok {
			return false, nil
		}
	default:
		return nil, &pyRuntimeError{fmt.Sprintf("'%s' not supported between instances of '%s' and '%s'",
			opSymbol(op), pyTypeName(l), pyTypeName(r))}
	}
	switch op {
	case "lt":
		return c < 0, nil
	case "lte":
		return c <= 0, nil
	case "gt":
		return c > 0, nil
	}
	return c >= 0, nil
}

// pyLess is a < b for sorting numbers or strings of one kind.
func pyLess(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return as < bs
	}
	c, ok := numCmp(a, b)
	return ok && c < 0
}

// --- functions (jmespath/functions.py) -----------------------------------

func pyTypeName(v any) string {
	switch t := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case *array:
		return "list"
	case *object:
		if t.ordered {
			return "OrderedDict"
		}
		return "dict"
	case *expref:
		return "_Expression"
	}
	return "unknown"
}

var pyToJMESType = map[string]string{
	"bool": "boolean", "list": "array", "dict": "object", "NoneType": "null",
	"unicode": "string", "str": "string", "float": "number", "int": "number",
	"long": "number", "OrderedDict": "object", "_Projection": "array",
	"_Expression": "expref",
}

func jmesTypeOf(pyName string) string {
	if t, ok := pyToJMESType[pyName]; ok {
		return t
	}
	return "unknown"
}

var jmesToPyTypes = map[string][]string{
	"boolean": {"bool"},
	"array":   {"list", "_Projection"},
	"object":  {"dict", "OrderedDict"},
	"null":    {"NoneType"},
	"string":  {"unicode", "str"},
	"number":  {"float", "int", "long"},
	"expref":  {"_Expression"},
}

type argSpec struct {
	types    []string
	variadic bool
}

type jfunc struct {
	sig []argSpec
	fn  func(args []any) (any, error)
}

var functionTable map[string]jfunc

func init() {
	a := func(types ...string) argSpec { return argSpec{types: types} }
	functionTable = map[string]jfunc{
		"abs":         {[]argSpec{a("number")}, fnAbs},
		"avg":         {[]argSpec{a("array-number")}, fnAvg},
		"not_null":    {[]argSpec{{variadic: true}}, fnNotNull},
		"to_array":    {[]argSpec{a()}, fnToArray},
		"to_string":   {[]argSpec{a()}, fnToString},
		"to_number":   {[]argSpec{a()}, fnToNumber},
		"contains":    {[]argSpec{a("array", "string"), a()}, fnContains},
		"length":      {[]argSpec{a("string", "array", "object")}, fnLength},
		"ends_with":   {[]argSpec{a("string"), a("string")}, fnEndsWith},
		"starts_with": {[]argSpec{a("string"), a("string")}, fnStartsWith},
		"reverse":     {[]argSpec{a("array", "string")}, fnReverse},
		"ceil":        {[]argSpec{a("number")}, fnCeil},
		"floor":       {[]argSpec{a("number")}, fnFloor},
		"join":        {[]argSpec{a("string"), a("array-string")}, fnJoin},
		"map":         {[]argSpec{a("expref"), a("array")}, fnMap},
		"max":         {[]argSpec{a("array-number", "array-string")}, fnMax},
		"merge":       {[]argSpec{{types: []string{"object"}, variadic: true}}, fnMerge},
		"min":         {[]argSpec{a("array-number", "array-string")}, fnMin},
		"sort":        {[]argSpec{a("array-string", "array-number")}, fnSort},
		"sum":         {[]argSpec{a("array-number")}, fnSum},
		"keys":        {[]argSpec{a("object")}, fnKeys},
		"values":      {[]argSpec{a("object")}, fnValues},
		"type":        {[]argSpec{a()}, fnType},
		"sort_by":     {[]argSpec{a("array"), a("expref")}, fnSortBy},
		"min_by":      {[]argSpec{a("array"), a("expref")}, fnMinBy},
		"max_by":      {[]argSpec{a("array"), a("expref")}, fnMaxBy},
	}
}

func typeError(fname string, value any, actual string, expected []string) error {
	exp := &array{}
	for _, e := range expected {
		exp.items = append(exp.items, e)
	}
	return &jmesError{fmt.Sprintf("In function %s(), invalid type for value: %s, expected one of: %s, received: \"%s\"",
		fname, pyStr(value), pyRepr(exp), actual)}
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func callFunction(name string, args []any) (any, error) {
	f, ok := functionTable[name]
	if !ok {
		return nil, &jmesError{fmt.Sprintf("Unknown function: %s()", name)}
	}
	sig := f.sig
	if len(sig) > 0 && sig[len(sig)-1].variadic {
		if len(args) < len(sig) {
			return nil, &jmesError{fmt.Sprintf("Expected at least %d %s for function %s(), received %d",
				len(sig), plural("argument", len(sig)), name, len(args))}
		}
	} else if len(args) != len(sig) {
		return nil, &jmesError{fmt.Sprintf("Expected %d %s for function %s(), received %d",
			len(sig), plural("argument", len(sig)), name, len(args))}
	}
	for i, spec := range sig {
		if len(spec.types) > 0 {
			if err := typeCheck(args[i], spec.types, name); err != nil {
				return nil, err
			}
		}
	}
	return f.fn(args)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// typeCheck is Functions._type_check_single.
func typeCheck(current any, types []string, fname string) error {
	var allowed []string
	var subtypes [][]string
	for _, t := range types {
		if i := strings.IndexByte(t, '-'); i >= 0 {
			subtypes = append(subtypes, jmesToPyTypes[t[i+1:]])
			t = t[:i]
		}
		allowed = append(allowed, jmesToPyTypes[t]...)
	}
	actual := pyTypeName(current)
	if !contains(allowed, actual) {
		return typeError(fname, current, jmesTypeOf(actual), types)
	}
	if len(subtypes) == 0 {
		return nil
	}
	list, _ := current.(*array)
	if list == nil {
		return nil
	}
	if len(subtypes) == 1 {
		for _, el := range list.items {
			if n := pyTypeName(el); !contains(subtypes[0], n) {
				return typeError(fname, el, n, types)
			}
		}
		return nil
	}
	if len(list.items) == 0 {
		return nil
	}
	first := pyTypeName(list.items[0])
	var allow []string
	for _, st := range subtypes {
		if contains(st, first) {
			allow = st
			break
		}
	}
	if allow == nil {
		return typeError(fname, list.items[0], first, types)
	}
	for _, el := range list.items {
		if n := pyTypeName(el); !contains(allow, n) {
			return typeError(fname, el, n, types)
		}
	}
	return nil
}

func fnAbs(args []any) (any, error) {
	switch t := args[0].(type) {
	case int64:
		if t == math.MinInt64 {
			return new(big.Int).Neg(big.NewInt(t)), nil
		}
		if t < 0 {
			return -t, nil
		}
		return t, nil
	case *big.Int:
		return normInt(new(big.Int).Abs(t)), nil
	case float64:
		return math.Abs(t), nil
	}
	return args[0], nil
}

// pySum is sum(list) for numbers: int while everything is int.
func pySum(items []any) any {
	var acc any = int64(0)
	for _, x := range items {
		acc = pyAdd(acc, x)
	}
	return acc
}

func toFloat(v any) float64 {
	switch t := v.(type) {
	case int64:
		return float64(t)
	case *big.Int:
		f, _ := new(big.Float).SetInt(t).Float64()
		return f
	case float64:
		return t
	}
	return math.NaN()
}

func pyAdd(a, b any) any {
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		s := ai + bi
		if (s > ai) == (bi > 0) {
			return s
		}
		return normInt(new(big.Int).Add(big.NewInt(ai), big.NewInt(bi)))
	}
	_, aF := a.(float64)
	_, bF := b.(float64)
	if !aF && !bF {
		x, y := toBigInt(a), toBigInt(b)
		return normInt(new(big.Int).Add(x, y))
	}
	return toFloat(a) + toFloat(b)
}

func toBigInt(v any) *big.Int {
	switch t := v.(type) {
	case int64:
		return big.NewInt(t)
	case *big.Int:
		return t
	}
	return new(big.Int)
}

func fnAvg(args []any) (any, error) {
	list := args[0].(*array)
	if len(list.items) == 0 {
		return nil, nil
	}
	return toFloat(pySum(list.items)) / float64(len(list.items)), nil
}

func fnNotNull(args []any) (any, error) {
	for _, a := range args {
		if a != nil {
			return a, nil
		}
	}
	return nil, nil
}

func fnToArray(args []any) (any, error) {
	if l, ok := args[0].(*array); ok {
		return l, nil
	}
	return &array{items: []any{args[0]}}, nil
}

func fnToString(args []any) (any, error) {
	if s, ok := args[0].(string); ok {
		return s, nil
	}
	return dumpsCompact(args[0]), nil
}

var (
	pyIntRe   = regexp.MustCompile(`^[+-]?[0-9](?:_?[0-9])*$`)
	pyFloatRe = regexp.MustCompile(`^[+-]?(?:(?i:infinity|inf|nan)|(?:[0-9](?:_?[0-9])*\.(?:[0-9](?:_?[0-9])*)?|\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?)$`)
)

func fnToNumber(args []any) (any, error) {
	switch t := args[0].(type) {
	case *expref:
		return nil, &pyRuntimeError{"int() argument must be a string, a bytes-like object or a real number, not '_Expression'"}
	case int64, *big.Int, float64:
		return t, nil
	case string:
		s := pyStrip(t)
		if pyIntRe.MatchString(s) {
			return parseIntLiteral(strings.ReplaceAll(strings.TrimPrefix(s, "+"), "_", "")), nil
		}
		if pyFloatRe.MatchString(s) {
			f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
			if err != nil && !isRangeErr(err) {
				return nil, nil
			}
			return f, nil
		}
	}
	return nil, nil
}

func fnContains(args []any) (any, error) {
	switch s := args[0].(type) {
	case *array:
		for _, x := range s.items {
			if x == args[1] || pyEq(x, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case string:
		sub, ok := args[1].(string)
		if !ok {
			return nil, &pyRuntimeError{fmt.Sprintf("'in <string>' requires string as left operand, not %s", pyTypeName(args[1]))}
		}
		return strings.Contains(s, sub), nil
	}
	return false, nil
}

func fnLength(args []any) (any, error) {
	switch t := args[0].(type) {
	case string:
		return int64(utf8.RuneCountInString(t)), nil
	case *array:
		return int64(len(t.items)), nil
	case *object:
		return int64(len(t.keys)), nil
	}
	return nil, nil
}

func fnEndsWith(args []any) (any, error) {
	return strings.HasSuffix(args[0].(string), args[1].(string)), nil
}

func fnStartsWith(args []any) (any, error) {
	return strings.HasPrefix(args[0].(string), args[1].(string)), nil
}

func fnReverse(args []any) (any, error) {
	if s, ok := args[0].(string); ok {
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), nil
	}
	l := args[0].(*array)
	out := &array{items: make([]any, len(l.items))}
	for i, x := range l.items {
		out.items[len(l.items)-1-i] = x
	}
	return out, nil
}

func floatToInt(f float64) (any, error) {
	if math.IsInf(f, 0) {
		return nil, &pyRuntimeError{"cannot convert float infinity to integer"}
	}
	if math.IsNaN(f) {
		return nil, &pyRuntimeError{"cannot convert float NaN to integer"}
	}
	if f >= -9.2e18 && f <= 9.2e18 {
		return int64(f), nil
	}
	b, _ := new(big.Float).SetFloat64(f).Int(nil)
	return normInt(b), nil
}

func fnCeil(args []any) (any, error) {
	if f, ok := args[0].(float64); ok {
		return floatToInt(math.Ceil(f))
	}
	return args[0], nil
}

func fnFloor(args []any) (any, error) {
	if f, ok := args[0].(float64); ok {
		return floatToInt(math.Floor(f))
	}
	return args[0], nil
}

func fnJoin(args []any) (any, error) {
	l := args[1].(*array)
	parts := make([]string, len(l.items))
	for i, x := range l.items {
		parts[i] = x.(string)
	}
	return strings.Join(parts, args[0].(string)), nil
}

func fnMap(args []any) (any, error) {
	e := args[0].(*expref)
	l := args[1].(*array)
	out := &array{items: make([]any, 0, len(l.items))}
	for _, x := range l.items {
		r, err := visit(e.node, x)
		if err != nil {
			return nil, err
		}
		out.items = append(out.items, r)
	}
	return out, nil
}

// pyMax is max(list) (gt) or min(list) (!gt): the first extreme wins.
func pyExtreme(items []any, gt bool) any {
	best := items[0]
	for _, x := range items[1:] {
		if gt && pyLess(best, x) || !gt && pyLess(x, best) {
			best = x
		}
	}
	return best
}

func fnMax(args []any) (any, error) {
	l := args[0].(*array)
	if len(l.items) == 0 {
		return nil, nil
	}
	return pyExtreme(l.items, true), nil
}

func fnMin(args []any) (any, error) {
	l := args[0].(*array)
	if len(l.items) == 0 {
		return nil, nil
	}
	return pyExtreme(l.items, false), nil
}

func fnMerge(args []any) (any, error) {
	out := newObject(false)
	for _, a := range args {
		if err := dictUpdate(out, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dictUpdate is dict.update(arg): only merge()'s first argument is type
// checked, the others may be any iterable of pairs.
func dictUpdate(d *object, arg any) error {
	var items []any
	switch t := arg.(type) {
	case *object:
		for _, k := range t.keys {
			d.set(k, t.vals[k])
		}
		return nil
	case *array:
		items = t.items
	case string:
		for _, r := range t {
			items = append(items, string(r))
		}
	default:
		return &pyRuntimeError{fmt.Sprintf("'%s' object is not iterable", pyTypeName(arg))}
	}
	for i, el := range items {
		var pair []any
		switch t := el.(type) {
		case *array:
			pair = t.items
		case string:
			for _, r := range t {
				pair = append(pair, string(r))
			}
		case *object:
			for _, k := range t.keys {
				pair = append(pair, k)
			}
		default:
			return &pyRuntimeError{fmt.Sprintf("cannot convert dictionary update sequence element #%d to a sequence", i)}
		}
		if len(pair) != 2 {
			return &pyRuntimeError{fmt.Sprintf("dictionary update sequence element #%d has length %d; 2 is required", i, len(pair))}
		}
		k, ok := pair[0].(string)
		if !ok {
			// A non-string key is legal in Python but cannot be
			// rendered the way json.dumps(sort_keys=True) would.
			return &pyRuntimeError{fmt.Sprintf("unsupported dictionary key of type '%s'", pyTypeName(pair[0]))}
		}
		d.set(k, pair[1])
	}
	return nil
}

func fnSort(args []any) (any, error) {
	l := args[0].(*array)
	out := &array{items: append([]any{}, l.items...)}
	sort.SliceStable(out.items, func(i, j int) bool { return pyLess(out.items[i], out.items[j]) })
	return out, nil
}

func fnSum(args []any) (any, error) {
	return pySum(args[0].(*array).items), nil
}

func fnKeys(args []any) (any, error) {
	o := args[0].(*object)
	out := &array{items: make([]any, len(o.keys))}
	for i, k := range o.keys {
		out.items[i] = k
	}
	return out, nil
}

func fnValues(args []any) (any, error) {
	o := args[0].(*object)
	out := &array{items: make([]any, len(o.keys))}
	for i, k := range o.keys {
		out.items[i] = o.vals[k]
	}
	return out, nil
}

func fnType(args []any) (any, error) {
	switch args[0].(type) {
	case string:
		return "string", nil
	case bool:
		return "boolean", nil
	case *array:
		return "array", nil
	case *object:
		return "object", nil
	case int64, *big.Int, float64:
		return "number", nil
	case nil:
		return "null", nil
	}
	return nil, nil
}

// keyFunc is Functions._create_key_func.
func keyFunc(e *expref, allowed []string, fname string) func(any) (any, error) {
	return func(x any) (any, error) {
		r, err := visit(e.node, x)
		if err != nil {
			return nil, err
		}
		jt := jmesTypeOf(pyTypeName(r))
		if !contains(allowed, jt) {
			return nil, typeError(fname, r, jt, allowed)
		}
		return r, nil
	}
}

func fnSortBy(args []any) (any, error) {
	l := args[0].(*array)
	e := args[1].(*expref)
	if len(l.items) == 0 {
		return l, nil
	}
	first, err := visit(e.node, l.items[0])
	if err != nil {
		return nil, err
	}
	required := jmesTypeOf(pyTypeName(first))
	if required != "number" && required != "string" {
		return nil, typeError("sort_by", l.items[0], required, []string{"string", "number"})
	}
	kf := keyFunc(e, []string{required}, "sort_by")
	keys := make([]any, len(l.items))
	for i, x := range l.items {
		if keys[i], err = kf(x); err != nil {
			return nil, err
		}
	}
	idx := make([]int, len(l.items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return pyLess(keys[idx[i]], keys[idx[j]]) })
	out := &array{items: make([]any, len(idx))}
	for i, k := range idx {
		out.items[i] = l.items[k]
	}
	return out, nil
}

func extremeBy(args []any, fname string, gt bool) (any, error) {
	l := args[0].(*array)
	e := args[1].(*expref)
	kf := keyFunc(e, []string{"number", "string"}, fname)
	if len(l.items) == 0 {
		return nil, nil
	}
	best := l.items[0]
	bestKey, err := kf(best)
	if err != nil {
		return nil, err
	}
	for _, x := range l.items[1:] {
		k, err := kf(x)
		if err != nil {
			return nil, err
		}
		_, ks := k.(string)
		_, bs := bestKey.(string)
		if ks != bs {
			op := "<"
			if gt {
				op = ">"
			}
			return nil, &pyRuntimeError{fmt.Sprintf("'%s' not supported between instances of '%s' and '%s'",
				op, pyTypeName(k), pyTypeName(bestKey))}
		}
		if gt && pyLess(bestKey, k) || !gt && pyLess(k, bestKey) {
			best, bestKey = x, k
		}
	}
	return best, nil
}

func fnMinBy(args []any) (any, error) { return extremeBy(args, "min_by", false) }

func fnMaxBy(args []any) (any, error) { return extremeBy(args, "max_by", true) }
