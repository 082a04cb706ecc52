package output

import (
	"strings"
	"unicode"
)

// jsonc and yamlc are knack's
//
//	highlight(text, lexers.JsonLexer(), formatters.TerminalFormatter())
//	highlight(text, lexers.YamlLexer(), formatters.TerminalFormatter())
//
// This file ports Pygments 2.14's JsonLexer, YamlLexer and
// TerminalFormatter (light background, the default).

type tokType int

const (
	tText tokType = iota
	tWhitespace
	tWhitespaceError
	tComment
	tKeywordConstant
	tKeywordType
	tNumber
	tPunctuation
	tIndicator // Punctuation.Indicator
	tNameTag
	tNameVariable
	tNameConstant
	tNameLabel
	tNameNamespace
	tString
	tStringEscape
	tScalarPlain // Literal.Scalar.Plain
	tError
)

// termColor is TerminalFormatter._get_color: TERMINAL_COLORS[ttype][0]
// walking up the token hierarchy, rendered by pygments.console.ansiformat.
var termColor = map[tokType]string{
	tWhitespace:      "\x1b[37m", // gray
	tWhitespaceError: "\x1b[37m", // Whitespace.Error -> Whitespace
	tComment:         "\x1b[37m", // gray
	tKeywordConstant: "\x1b[34m", // Keyword: blue
	tKeywordType:     "\x1b[36m", // cyan
	tNumber:          "\x1b[34m", // blue
	tNameTag:         "\x1b[94m", // brightblue
	tNameVariable:    "\x1b[31m", // red
	tNameConstant:    "\x1b[31m", // red
	tNameNamespace:   "\x1b[04m\x1b[36m",
	tString:          "\x1b[33m", // yellow
	tStringEscape:    "\x1b[33m",
	tError:           "\x1b[04m\x1b[91m", // _brightred_
}

const ansiReset = "\x1b[39;49;00m"

type token struct {
	typ  tokType
	text string
}

// pygmentsPrepare is Lexer.get_tokens' preprocessing with the default
// options (stripnl, ensurenl, no tab expansion).
func pygmentsPrepare(text string) string {
	text = strings.TrimPrefix(text, "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	text = strings.Trim(text, "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return text
}

// terminalFormat is TerminalFormatter.format_unencoded.
func terminalFormat(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		color := termColor[t.typ]
		for _, line := range pySplitlines(t.text, true) {
			body := strings.TrimRight(line, "\n")
			if color != "" {
				b.WriteString(color + body + ansiReset)
			} else {
				b.WriteString(body)
			}
			if strings.HasSuffix(line, "\n") {
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

func colorizeJSON(text string) string {
	return terminalFormat(lexJSON([]rune(pygmentsPrepare(text))))
}

func colorizeYAML(text string) string {
	return terminalFormat(lexYAML([]rune(pygmentsPrepare(text))))
}

// lexJSON is JsonLexer.get_tokens_unprocessed.
func lexJSON(text []rune) []token {
	const (
		integers     = "-0123456789"
		floats       = ".eE+"
		constants    = "truefalsenull"
		hexadecimals = "0123456789abcdefABCDEF"
		punctuations = "{}[],"
	)
	isWS := func(r rune) bool { return r == ' ' || r == '\n' || r == '\r' || r == '\t' }
	in := func(set string, r rune) bool { return strings.ContainsRune(set, r) }
	var out []token
	var queue []token
	flush := func() {
		out = append(out, queue...)
		queue = queue[:0]
	}
	emit := func(typ tokType, s []rune) { out = append(out, token{typ, string(s)}) }
	var inString, inEscape, inWhitespace, inConstant, inNumber, inFloat, inPunct bool
	var inCommentSingle, inCommentMulti, expectOpener, expectCloser bool
	unicodeEscape := 0
	start := 0
	for stop, ch := range text {
		if inString {
			if unicodeEscape > 0 {
				if in(hexadecimals, ch) {
					unicodeEscape--
					if unicodeEscape == 0 {
						inEscape = false
					}
				} else {
					unicodeEscape = 0
					inEscape = false
				}
			} else if inEscape {
				if ch == 'u' {
					unicodeEscape = 4
				} else {
					inEscape = false
				}
			} else if ch == '\\' {
				inEscape = true
			} else if ch == '"' {
				queue = append(queue, token{tString, string(text[start : stop+1])})
				inString, inEscape, unicodeEscape = false, false, 0
			}
			continue
		} else if inWhitespace {
			if isWS(ch) {
				continue
			}
			if len(queue) > 0 {
				queue = append(queue, token{tWhitespace, string(text[start:stop])})
			} else {
				emit(tWhitespace, text[start:stop])
			}
			inWhitespace = false
		} else if inConstant {
			if in(constants, ch) {
				continue
			}
			emit(tKeywordConstant, text[start:stop])
			inConstant = false
		} else if inNumber {
			if in(integers, ch) {
				continue
			} else if in(floats, ch) {
				inFloat = true
				continue
			}
			emit(tNumber, text[start:stop])
			inNumber, inFloat = false, false
		} else if inPunct {
			if in(punctuations, ch) {
				continue
			}
			emit(tPunctuation, text[start:stop])
			inPunct = false
		} else if inCommentSingle {
			if ch != '\n' {
				continue
			}
			if len(queue) > 0 {
				queue = append(queue, token{tComment, string(text[start:stop])})
			} else {
				emit(tComment, text[start:stop])
			}
			inCommentSingle = false
		} else if inCommentMulti {
			if ch == '*' {
				expectCloser = true
			} else if expectCloser {
				expectCloser = false
				if ch == '/' {
					if len(queue) > 0 {
						queue = append(queue, token{tComment, string(text[start : stop+1])})
					} else {
						emit(tComment, text[start:stop+1])
					}
					inCommentMulti = false
				}
			}
			continue
		} else if expectOpener {
			expectOpener = false
			if ch == '/' {
				inCommentSingle = true
				continue
			} else if ch == '*' {
				inCommentMulti = true
				continue
			}
			flush()
			emit(tError, text[start:stop])
		}
		start = stop
		switch {
		case ch == '"':
			inString = true
		case isWS(ch):
			inWhitespace = true
		case ch == 'f' || ch == 'n' || ch == 't':
			flush()
			inConstant = true
		case in(integers, ch):
			flush()
			inNumber = true
		case ch == ':':
			for _, q := range queue {
				if q.typ == tString {
					q.typ = tNameTag
				}
				out = append(out, q)
			}
			queue = queue[:0]
			inPunct = true
		case in(punctuations, ch):
			flush()
			inPunct = true
		case ch == '/':
			expectOpener = true
		default:
			flush()
			emit(tError, []rune{ch})
		}
	}
	flush()
	rest := text[start:]
	switch {
	case inString:
		emit(tError, rest)
	case inFloat, inNumber:
		emit(tNumber, rest)
	case inConstant:
		emit(tKeywordConstant, rest)
	case inWhitespace:
		emit(tWhitespace, rest)
	case inPunct:
		emit(tPunctuation, rest)
	case inCommentSingle:
		emit(tComment, rest)
	case inCommentMulti, expectOpener:
		emit(tError, rest)
	}
	return out
}

// --- YamlLexer ------------------------------------------------------------------

type yamlLexer struct {
	text        []rune
	pos         int
	stack       []string
	indentStack []int
	indent      int
	nextIndent  int
	bsIndent    int // block_scalar_indent; -1 is None
	out         []token
}

func (l *yamlLexer) emit(typ tokType, s []rune) {
	l.out = append(l.out, token{typ, string(s)})
}

func (l *yamlLexer) at(i int) rune {
	if i < 0 || i >= len(l.text) {
		return -1
	}
	return l.text[i]
}

// Python re (MULTILINE) anchors.
func (l *yamlLexer) bol(i int) bool { return i == 0 || l.at(i-1) == '\n' }
func (l *yamlLexer) eol(i int) bool { return i >= len(l.text) || l.text[i] == '\n' }

func (l *yamlLexer) spaces(i int) int { // end of [ ]* from i
	for l.at(i) == ' ' {
		i++
	}
	return i
}

func (l *yamlLexer) spaceOrEOL(i int) bool { return l.at(i) == ' ' || l.eol(i) }

func pyWS(r rune) bool { return r >= 0 && pyIsSpace(r) }

func pyWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// popN applies a '#pop' count (ExtendedRegexLexer int transition).
func (l *yamlLexer) popN(n int) {
	if n >= len(l.stack) {
		l.stack = l.stack[:1]
	} else {
		l.stack = l.stack[:len(l.stack)-n]
	}
}

func (l *yamlLexer) push(states ...string) { l.stack = append(l.stack, states...) }

func (l *yamlLexer) top() string { return l.stack[len(l.stack)-1] }

// saveIndent is YamlLexer.save_indent.
func (l *yamlLexer) saveIndent(typ tokType, start bool, end int) {
	text := l.text[l.pos:end]
	var extra []rune
	if start {
		l.nextIndent = len(text)
		if l.nextIndent < l.indent {
			for l.nextIndent < l.indent {
				l.indent = l.indentStack[len(l.indentStack)-1]
				l.indentStack = l.indentStack[:len(l.indentStack)-1]
			}
			if l.nextIndent > l.indent {
				extra = text[l.indent:]
				text = text[:l.indent]
			}
		}
	} else {
		l.nextIndent += len(text)
	}
	if len(text) > 0 {
		l.emit(typ, text)
	}
	if len(extra) > 0 {
		l.emit(tWhitespaceError, extra)
	}
	l.pos = end
}

// setIndent is YamlLexer.set_indent for text[l.pos:end].
func (l *yamlLexer) setIndent(typ tokType, implicit bool, end int) {
	if l.indent < l.nextIndent {
		l.indentStack = append(l.indentStack, l.indent)
		l.indent = l.nextIndent
	}
	if !implicit {
		l.nextIndent += end - l.pos
	}
	l.emit(typ, l.text[l.pos:end])
	l.pos = end
}

func (l *yamlLexer) resetIndent(typ tokType, end int) {
	l.indentStack = nil
	l.indent = -1
	l.nextIndent = 0
	l.bsIndent = -1
	l.emit(typ, l.text[l.pos:end])
	l.pos = end
}

// something yields a token only for a non-empty match.
func (l *yamlLexer) something(typ tokType, end int) {
	if end > l.pos {
		l.emit(typ, l.text[l.pos:end])
		l.pos = end
	}
}

func (l *yamlLexer) simple(typ tokType, end int) {
	l.emit(typ, l.text[l.pos:end])
	l.pos = end
}

// keyColon matches ([^<excluded>\n]+)(:)(?=[ ]|$) at pos: the end of
// group 1 (the colon's index), or -1. Group 1 may contain ':' unless
// colonExcluded, so the last qualifying colon of the run wins.
func (l *yamlLexer) keyColon(excluded string, colonExcluded bool) int {
	i := l.pos
	for i < len(l.text) && l.text[i] != '\n' && !strings.ContainsRune(excluded, l.text[i]) {
		if colonExcluded && l.text[i] == ':' {
			break
		}
		i++
	}
	if colonExcluded {
		if i > l.pos && l.at(i) == ':' && l.spaceOrEOL(i+1) {
			return i
		}
		return -1
	}
	for p := i - 1; p > l.pos; p-- {
		if l.text[p] == ':' && l.spaceOrEOL(p+1) {
			return p
		}
	}
	return -1
}

const descriptorChars = "#;/?:@&=+$,.!~*'()[]%-"

func (l *yamlLexer) tagChar(r rune, withHash bool) bool {
	if r < 0 {
		return false
	}
	return pyWordChar(r) || strings.ContainsRune(descriptorChars, r) && (withHash || r != '#')
}

// descriptors tries the 'descriptors' rules.
func (l *yamlLexer) descriptors() bool {
	p := l.pos
	switch l.at(p) {
	case '!':
		// !<[\w#;/?:@&=+$,.!~*\'()\[\]%-]+>
		if l.at(p+1) == '<' {
			i := p + 2
			for l.tagChar(l.at(i), true) && l.at(i) != '>' {
				i++
			}
			// the class excludes '>', so the run ends at the first '>'
			if i > p+2 && l.at(i) == '>' {
				l.simple(tKeywordType, i+1)
				return true
			}
		}
		// !(?:[\w-]+!)?[\w#;/?:@&=+$,.!~*\'()\[\]%-]*
		i := p + 1
		j := i
		for pyWordChar(l.at(j)) || l.at(j) == '-' {
			j++
		}
		if j > i && l.at(j) == '!' {
			i = j + 1
		}
		for l.tagChar(l.at(i), true) {
			i++
		}
		l.simple(tKeywordType, i)
		return true
	case '&', '*':
		i := p + 1
		for pyWordChar(l.at(i)) || l.at(i) == '-' {
			i++
		}
		if i > p+1 {
			if l.at(p) == '&' {
				l.simple(tNameLabel, i)
			} else {
				l.simple(tNameVariable, i)
			}
			return true
		}
	}
	return false
}

// flowNodes tries the 'flow-nodes' rules.
func (l *yamlLexer) flowNodes() bool {
	switch l.at(l.pos) {
	case '[':
		l.simple(tIndicator, l.pos+1)
		l.push("flow-sequence")
	case '{':
		l.simple(tIndicator, l.pos+1)
		l.push("flow-mapping")
	case '\'':
		l.simple(tString, l.pos+1)
		l.push("single-quoted-scalar")
	case '"':
		l.simple(tString, l.pos+1)
		l.push("double-quoted-scalar")
	default:
		return false
	}
	return true
}

// quotedWhitespace tries the 'quoted-scalar-whitespaces' rules.
func (l *yamlLexer) quotedWhitespace() bool {
	p := l.pos
	if l.at(p) == ' ' {
		e := l.spaces(p)
		switch {
		case l.bol(p):
			l.simple(tWhitespace, e)
		case l.eol(e):
			l.simple(tWhitespace, e)
		default:
			l.simple(tNameVariable, e)
		}
		return true
	}
	if l.at(p) == '\n' {
		e := p
		for l.at(e) == '\n' {
			e++
		}
		l.simple(tWhitespace, e)
		return true
	}
	return false
}

// step runs one iteration of ExtendedRegexLexer.get_tokens_unprocessed.
func (l *yamlLexer) step() bool {
	p := l.pos
	c := l.at(p)
	switch l.top() {
	case "root":
		if c == ' ' {
			if e := l.spaces(p); l.at(e) == '#' || l.eol(e) {
				l.simple(tWhitespace, e)
				return true
			}
		}
		if c == '\n' {
			e := p
			for l.at(e) == '\n' {
				e++
			}
			l.simple(tWhitespace, e)
			return true
		}
		if c == '#' {
			e := p
			for !l.eol(e) {
				e++
			}
			l.simple(tComment, e)
			return true
		}
		// (%YAML and %TAG directives cannot occur in safe_dump output.)
		if l.bol(p) && (l.hasPrefix(p, "---") || l.hasPrefix(p, "...")) && l.spaceOrEOL(p+3) {
			l.resetIndent(tNameNamespace, p+3)
			l.push("block-line")
			return true
		}
		if e := l.spaces(p); e < len(l.text) && !pyWS(l.at(e)) {
			l.saveIndent(tWhitespace, true, e)
			l.push("block-line", "indentation")
			return true
		}
	case "indentation":
		e := l.spaces(p)
		if l.eol(e) {
			l.something(tWhitespace, e)
			l.popN(2)
			return true
		}
		if e > p && strings.ContainsRune("?:-", l.at(e)) && l.spaceOrEOL(e+1) {
			l.saveIndent(tWhitespace, false, e)
			return true
		}
		if c >= 0 && strings.ContainsRune("?:-", c) && l.spaceOrEOL(p+1) {
			l.setIndent(tIndicator, false, p+1)
			return true
		}
		l.saveIndent(tWhitespace, false, e)
		l.popN(1)
		return true
	case "block-line":
		e := l.spaces(p)
		if l.at(e) == '#' || l.eol(e) {
			l.something(tWhitespace, e)
			l.popN(1)
			return true
		}
		if e > p {
			l.simple(tWhitespace, e)
			return true
		}
		if colon := l.keyColon("#,?[]{}\"'", false); colon >= 0 {
			l.emit(tNameTag, l.text[p:colon])
			l.pos = colon
			l.setIndent(tPunctuation, true, colon+1)
			return true
		}
		if l.descriptors() {
			return true
		}
		if c == ':' && l.spaceOrEOL(p+1) {
			l.setIndent(tIndicator, true, p+1)
			return true
		}
		if c == '|' || c == '>' {
			l.simple(tIndicator, p+1)
			l.push("block-scalar-content", "block-scalar-header")
			return true
		}
		if l.flowNodes() {
			return true
		}
		if c >= 0 && (!pyWS(c) && !strings.ContainsRune("?:,[]{}#&*!|>'\"%@`-", c) ||
			strings.ContainsRune("?:-", c) && l.at(p+1) >= 0 && !pyWS(l.at(p+1))) {
			l.push("plain-scalar-in-block-context")
			return true
		}
	case "flow-sequence", "flow-mapping":
		if l.top() == "flow-mapping" {
			if colon := l.keyColon(",?[]{}\"'", true); colon >= 0 {
				l.emit(tNameTag, l.text[p:colon])
				l.emit(tPunctuation, l.text[colon:colon+1])
				l.pos = colon + 1
				return true
			}
		}
		switch {
		case c == ' ':
			l.simple(tWhitespace, l.spaces(p))
			return true
		case c == '\n':
			e := p
			for l.at(e) == '\n' {
				e++
			}
			l.simple(tWhitespace, e)
			return true
		case c == '#':
			e := p
			for !l.eol(e) {
				e++
			}
			l.simple(tComment, e)
			return true
		case c == '?' || c == ':' || c == ',':
			l.simple(tIndicator, p+1)
			return true
		}
		if l.descriptors() || l.flowNodes() {
			return true
		}
		if c >= 0 && !pyWS(c) && !strings.ContainsRune("?:,[]{}#&*!|>'\"%@`", c) {
			l.push("plain-scalar-in-flow-context")
			return true
		}
		if l.top() == "flow-sequence" && c == ']' || l.top() == "flow-mapping" && c == '}' {
			l.simple(tIndicator, p+1)
			l.popN(1)
			return true
		}
	case "block-scalar-content":
		if c == '\n' {
			l.simple(tWhitespace, p+1)
			return true
		}
		if l.bol(p) {
			e := l.spaces(p)
			if e > p && l.eol(e) {
				text := l.text[p:e]
				if l.bsIndent < 0 || len(text) <= l.bsIndent {
					l.emit(tWhitespace, text)
				} else {
					l.emit(tWhitespace, text[:l.bsIndent])
					l.emit(tNameConstant, text[l.bsIndent:])
				}
				l.pos = e
				return true
			}
			n := e - p
			if l.bsIndent < 0 {
				if n <= max(l.indent, 0) {
					l.popN(2)
					return true
				}
				l.bsIndent = n
			} else if n < l.bsIndent {
				l.popN(2)
				return true
			}
			if n > 0 {
				l.simple(tWhitespace, e)
			}
			return true
		}
		e := p
		for e < len(l.text) && (!pyWS(l.text[e]) || l.text[e] == '\t' || l.text[e] == ' ') {
			e++
		}
		if e > p {
			l.simple(tNameConstant, e)
			return true
		}
	case "block-scalar-header":
		// ([1-9])?[+-]?(?=[ ]|$)  or  [+-]?([1-9])?(?=[ ]|$)
		i, inc := p, rune(0)
		if c >= '1' && c <= '9' {
			inc = c
			i++
		}
		if l.at(i) == '+' || l.at(i) == '-' {
			i++
		}
		ok := l.spaceOrEOL(i)
		if !ok {
			i, inc = p, 0
			if c == '+' || c == '-' {
				i++
			}
			if d := l.at(i); d >= '1' && d <= '9' {
				inc = d
				i++
			}
			ok = l.spaceOrEOL(i)
		}
		if ok {
			l.bsIndent = -1
			if i > p {
				if inc != 0 {
					l.bsIndent = max(l.indent, 0) + int(inc-'0')
				}
				l.simple(tIndicator, i)
			}
			l.push("ignored-line")
			return true
		}
	case "ignored-line":
		if c == ' ' {
			if e := l.spaces(p); l.at(e) == '#' || l.eol(e) {
				l.simple(tWhitespace, e)
				return true
			}
		}
		if c == '#' {
			e := p
			for !l.eol(e) {
				e++
			}
			l.simple(tComment, e)
			return true
		}
		if c == '\n' {
			l.simple(tWhitespace, p+1)
			l.popN(2)
			return true
		}
	case "single-quoted-scalar":
		if l.quotedWhitespace() {
			return true
		}
		if c == '\'' && l.at(p+1) == '\'' {
			l.simple(tStringEscape, p+2)
			return true
		}
		if c >= 0 && c != '\'' && !pyWS(c) {
			e := p
			for e < len(l.text) && l.text[e] != '\'' && !pyWS(l.text[e]) {
				e++
			}
			l.simple(tString, e)
			return true
		}
		if c == '\'' {
			l.simple(tString, p+1)
			l.popN(1)
			return true
		}
	case "double-quoted-scalar":
		if l.quotedWhitespace() {
			return true
		}
		if c == '\\' {
			if d := l.at(p + 1); d >= 0 && strings.ContainsRune("0abt\tn\nvfre \"\\N_LP", d) {
				l.simple(tString, p+2)
				return true
			}
			for _, esc := range []struct {
				r rune
				n int
			}{{'x', 2}, {'u', 4}, {'U', 8}} {
				if l.at(p+1) == esc.r && l.hexRun(p+2, esc.n) {
					l.simple(tStringEscape, p+2+esc.n)
					return true
				}
			}
		}
		if c >= 0 && c != '"' && c != '\\' && !pyWS(c) {
			e := p
			for e < len(l.text) && l.text[e] != '"' && l.text[e] != '\\' && !pyWS(l.text[e]) {
				e++
			}
			l.simple(tString, e)
			return true
		}
		if c == '"' {
			l.simple(tString, p+1)
			l.popN(1)
			return true
		}
	case "plain-scalar-in-block-context-new-line":
		if l.bol(p) {
			if e := l.spaces(p); e > p && l.eol(e) {
				l.simple(tWhitespace, e)
				return true
			}
		}
		if c == '\n' {
			e := p
			for l.at(e) == '\n' {
				e++
			}
			l.simple(tWhitespace, e)
			return true
		}
		if l.bol(p) && (l.hasPrefix(p, "---") || l.hasPrefix(p, "...")) {
			l.popN(3)
			return true
		}
		if l.bol(p) {
			e := l.spaces(p)
			if e-p <= l.indent {
				l.popN(2)
			} else if e > p {
				l.simple(tWhitespace, e)
			}
			l.popN(1)
			return true
		}
	case "plain-scalar-in-block-context":
		e := l.spaces(p)
		if l.at(e) == ':' && l.spaceOrEOL(e+1) {
			l.something(tWhitespace, e)
			l.popN(1)
			return true
		}
		if e > p && l.at(e) == '#' {
			l.simple(tWhitespace, e)
			l.popN(1)
			return true
		}
		if e > p && l.eol(e) {
			l.simple(tWhitespace, e)
			return true
		}
		if c == '\n' {
			e := p
			for l.at(e) == '\n' {
				e++
			}
			l.simple(tWhitespace, e)
			l.push("plain-scalar-in-block-context-new-line")
			return true
		}
		if e > p {
			l.simple(tScalarPlain, e)
			return true
		}
		// (?::(?!\s)|[^\s:])+
		i := p
		for i < len(l.text) {
			r := l.text[i]
			if r == ':' {
				if n := l.at(i + 1); n >= 0 && pyWS(n) {
					break
				}
				i++
				continue
			}
			if pyWS(r) {
				break
			}
			i++
		}
		if i > p {
			l.simple(tScalarPlain, i)
			return true
		}
	case "plain-scalar-in-flow-context":
		e := l.spaces(p)
		if e < len(l.text) && strings.ContainsRune(",:?[]{}", l.text[e]) {
			l.something(tWhitespace, e)
			l.popN(1)
			return true
		}
		if e > p && l.at(e) == '#' {
			l.simple(tWhitespace, e)
			l.popN(1)
			return true
		}
		if e > p && (l.bol(p) || l.eol(e)) {
			l.simple(tWhitespace, e)
			return true
		}
		if c == '\n' {
			e := p
			for l.at(e) == '\n' {
				e++
			}
			l.simple(tWhitespace, e)
			return true
		}
		if e > p {
			l.simple(tNameVariable, e)
			return true
		}
		i := p
		for i < len(l.text) && !pyWS(l.text[i]) && !strings.ContainsRune(",:?[]{}", l.text[i]) {
			i++
		}
		if i > p {
			l.simple(tNameVariable, i)
			return true
		}
	}
	return false
}

func (l *yamlLexer) hasPrefix(p int, s string) bool {
	for i, r := range []rune(s) {
		if l.at(p+i) != r {
			return false
		}
	}
	return true
}

func (l *yamlLexer) hexRun(p, n int) bool {
	for i := 0; i < n; i++ {
		r := l.at(p + i)
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// lexYAML is YamlLexer.get_tokens_unprocessed.
func lexYAML(text []rune) []token {
	l := &yamlLexer{text: text, stack: []string{"root"}, indent: -1, bsIndent: -1}
	guard := 0
	for l.pos <= len(l.text) {
		before := l.pos
		if l.step() {
			if l.pos == before {
				guard++
				if guard > 64 {
					break // a zero-width loop; cannot happen with a faithful port
				}
			} else {
				guard = 0
			}
			continue
		}
		if l.pos >= len(l.text) {
			break
		}
		if l.text[l.pos] == '\n' {
			l.stack = []string{"root"}
			l.emit(tText, l.text[l.pos:l.pos+1])
			l.pos++
			continue
		}
		l.emit(tError, l.text[l.pos:l.pos+1])
		l.pos++
	}
	return l.out
}
