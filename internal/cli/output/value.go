package output

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The internal value model mirrors the Python objects that az's formatters
// see after json.loads/todict and a JMESPath search:
//
//	nil        None
//	bool       bool
//	string     str
//	int64      int (that fits in 64 bits)
//	*big.Int   int (that does not)
//	float64    float
//	*array     list
//	*object    dict, or collections.OrderedDict when ordered is set
//
// Containers are pointers so that identity survives a query: PyYAML emits
// anchors and aliases for a list or dict that appears twice.

type object struct {
	keys    []string
	vals    map[string]any
	ordered bool
}

type array struct{ items []any }

func newObject(ordered bool) *object {
	return &object{vals: map[string]any{}, ordered: ordered}
}

// set keeps the first insertion position and the last value, like a dict.
func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// sortedKeys is sorted(dict): code point order, which for UTF-8 is byte order.
func (o *object) sortedKeys() []string {
	ks := append([]string(nil), o.keys...)
	sort.Strings(ks)
	return ks
}

// KV is one entry of an Ordered object.
type KV struct {
	Key   string
	Value any
}

// Ordered is a JSON object that keeps its key order, like the Python
// collections.OrderedDict that az's table transformers and JMESPath
// multiselect hashes produce. It matters where az keeps insertion order
// instead of sorting: tsv rows, and table output with a transformer.
type Ordered []KV

// MarshalJSON writes the object in its own key order.
func (o Ordered) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(kv.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// normalize converts any JSON-able Go value into the internal model. Go
// numbers follow encoding/json: a float64 with an integral value below
// 1e21 becomes an int, as it does when the value travels as JSON text.
func normalize(v any) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return t, nil
	case string:
		if !utf8.ValidString(t) {
			t = strings.ToValidUTF8(t, "\uFFFD")
		}
		return t, nil
	case json.Number:
		return parseJSONNumberText(string(t))
	case float64:
		return normalizeFloat(t)
	case float32:
		if math.IsNaN(float64(t)) || math.IsInf(float64(t), 0) {
			return float64(t), nil
		}
		b, err := json.Marshal(t) // shortest float32 digits, as encoding/json
		if err != nil {
			return nil, err
		}
		return parseJSONNumberText(string(b))
	case int:
		return int64(t), nil
	case int8:
		return int64(t), nil
	case int16:
		return int64(t), nil
	case int32:
		return int64(t), nil
	case int64:
		return t, nil
	case uint8:
		return int64(t), nil
	case uint16:
		return int64(t), nil
	case uint32:
		return int64(t), nil
	case uint:
		return normalizeUint(uint64(t)), nil
	case uint64:
		return normalizeUint(t), nil
	case Ordered:
		o := newObject(true)
		for _, kv := range t {
			x, err := normalize(kv.Value)
			if err != nil {
				return nil, err
			}
			o.set(kv.Key, x)
		}
		return o, nil
	case *Ordered:
		if t == nil {
			return nil, nil
		}
		return normalize(*t)
	case map[string]any:
		if t == nil {
			return nil, nil
		}
		o := newObject(false)
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys) // encoding/json's order
		for _, k := range keys {
			x, err := normalize(t[k])
			if err != nil {
				return nil, err
			}
			o.set(strings.ToValidUTF8(k, "\uFFFD"), x)
		}
		return o, nil
	case []any:
		if t == nil {
			return nil, nil
		}
		a := &array{items: make([]any, len(t))}
		for i, x := range t {
			y, err := normalize(x)
			if err != nil {
				return nil, err
			}
			a.items[i] = y
		}
		return a, nil
	case *object, *array, *big.Int:
		return t, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return parsePyJSON(string(b))
}

func normalizeUint(u uint64) any {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return new(big.Int).SetUint64(u)
}

func normalizeFloat(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f, nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return parseJSONNumberText(string(b))
}

// parseJSONNumberText reads a JSON number as Python's json module does: an
// int unless it has a fraction or an exponent.
func parseJSONNumberText(s string) (any, error) {
	p := &pyJSONParser{s: s}
	v, err := p.number()
	if err != nil || p.i != len(s) {
		return nil, fmt.Errorf("invalid number literal %q", s)
	}
	return v, nil
}

// pyJSONParser is json.loads: ints stay exact ints, NaN/Infinity are
// accepted, duplicate keys keep their first position and last value.
type pyJSONParser struct {
	s string
	i int
}

type jsonSyntaxError struct{ msg string }

func (e *jsonSyntaxError) Error() string { return e.msg }

func parsePyJSON(s string) (any, error) {
	p := &pyJSONParser{s: s}
	p.ws()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, &jsonSyntaxError{"Extra data"}
	}
	return v, nil
}

func (p *pyJSONParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *pyJSONParser) fail(what string) error {
	return &jsonSyntaxError{what}
}

func (p *pyJSONParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, p.fail("Expecting value")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.obj()
	case c == '[':
		return p.arr()
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		if strings.HasPrefix(p.s[p.i:], "-Infinity") {
			p.i += len("-Infinity")
			return math.Inf(-1), nil
		}
		return p.number()
	case strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
		return nil, nil
	case strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		return false, nil
	case strings.HasPrefix(p.s[p.i:], "NaN"):
		p.i += 3
		return math.NaN(), nil
	case strings.HasPrefix(p.s[p.i:], "Infinity"):
		p.i += 8
		return math.Inf(1), nil
	}
	return nil, p.fail("Expecting value")
}

func (p *pyJSONParser) obj() (any, error) {
	p.i++ // {
	o := newObject(false)
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return o, nil
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.fail("Expecting property name enclosed in double quotes")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.fail("Expecting ':' delimiter")
		}
		p.i++
		p.ws()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		o.set(k.(string), v)
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return o, nil
		}
		return nil, p.fail("Expecting ',' delimiter")
	}
}

func (p *pyJSONParser) arr() (any, error) {
	p.i++ // [
	a := &array{items: []any{}}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		p.ws()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a.items = append(a.items, v)
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return a, nil
		}
		return nil, p.fail("Expecting ',' delimiter")
	}
}

func hexVal(s string) (rune, bool) {
	if len(s) != 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

func (p *pyJSONParser) str() (any, error) {
	p.i++ // opening quote
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return nil, p.fail("Unterminated string starting at")
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return nil, p.fail("Unterminated string starting at")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if p.i+4 > len(p.s) {
					return nil, p.fail("Invalid \\uXXXX escape")
				}
				r, ok := hexVal(p.s[p.i : p.i+4])
				if !ok {
					return nil, p.fail("Invalid \\uXXXX escape")
				}
				p.i += 4
				if r >= 0xd800 && r <= 0xdbff && strings.HasPrefix(p.s[p.i:], "\\u") && p.i+6 <= len(p.s) {
					if r2, ok := hexVal(p.s[p.i+2 : p.i+6]); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
						r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
						p.i += 6
					}
				}
				// A lone surrogate cannot live in a Go string.
				b.WriteRune(r)
			default:
				return nil, p.fail("Invalid \\escape")
			}
		case c < 0x20:
			return nil, p.fail("Invalid control character at")
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			b.WriteRune(r)
			p.i += size
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number follows NUMBER_RE = (-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?
func (p *pyJSONParser) number() (any, error) {
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.s) || !isDigit(p.s[p.i]) {
		p.i = start
		return nil, p.fail("Expecting value")
	}
	if p.s[p.i] == '0' {
		p.i++
	} else {
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			p.i++
		}
	}
	isFloat := false
	if p.i+1 < len(p.s) && p.s[p.i] == '.' && isDigit(p.s[p.i+1]) {
		isFloat = true
		p.i++
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			p.i++
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		j := p.i + 1
		if j < len(p.s) && (p.s[j] == '+' || p.s[j] == '-') {
			j++
		}
		if j < len(p.s) && isDigit(p.s[j]) {
			for j < len(p.s) && isDigit(p.s[j]) {
				j++
			}
			isFloat = true
			p.i = j
		}
	}
	lit := p.s[start:p.i]
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil && !isRangeErr(err) {
			return nil, p.fail("Expecting value")
		}
		return f, nil
	}
	return parseIntLiteral(lit), nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// parseIntLiteral turns decimal digits (with optional sign) into int64 or
// *big.Int.
func parseIntLiteral(lit string) any {
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return n
	}
	b, ok := new(big.Int).SetString(lit, 10)
	if !ok {
		return nil
	}
	return b
}

// normInt reduces a *big.Int to int64 when it fits.
func normInt(b *big.Int) any {
	if b.IsInt64() {
		return b.Int64()
	}
	return b
}

// --- Python str() and repr() -------------------------------------------

// pyFloatRepr is float.__repr__ (which str() also uses).
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX, shortest round-trip
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	epos := strings.IndexByte(s, 'e')
	mant, expStr := s[:epos], s[epos+1:]
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		e := strconv.Itoa(exp)
		if len(e) < 2 {
			e = "0" + e
		}
		out = m + "e" + sign + e
	} else {
		decpt := exp + 1
		switch {
		case decpt <= 0:
			out = "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			out = digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			out = digits[:decpt] + "." + digits[decpt:]
		}
	}
	if neg {
		out = "-" + out
	}
	return out
}

// pyStr is Python's str() of a value.
func pyStr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(t, 10)
	case *big.Int:
		return t.String()
	case float64:
		return pyFloatRepr(t)
	case string:
		return t
	case *expref:
		// Python shows a memory address here; this one has the usual width.
		return "<jmespath.visitor._Expression object at 0x7f0000000000>"
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a value.
func pyRepr(v any) string {
	switch t := v.(type) {
	case string:
		return pyStrRepr(t)
	case *array:
		var b strings.Builder
		b.WriteByte('[')
		for i, x := range t.items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(x))
		}
		b.WriteByte(']')
		return b.String()
	case *object:
		var b strings.Builder
		if t.ordered {
			if len(t.keys) == 0 {
				return "OrderedDict()"
			}
			b.WriteString("OrderedDict([")
			for i, k := range t.keys {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(" + pyStrRepr(k) + ", " + pyRepr(t.vals[k]) + ")")
			}
			b.WriteString("])")
			return b.String()
		}
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyStrRepr(k) + ": " + pyRepr(t.vals[k]))
		}
		b.WriteByte('}')
		return b.String()
	}
	return pyStr(v)
}

// pyStrRepr is repr() of a str.
func pyStrRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// pyIsSpace is str.isspace() for one character.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is str.strip() with no arguments.
func pyStrip(s string) string {
	return strings.TrimFunc(s, pyIsSpace)
}

// isLineBoundary reports the characters str.splitlines() splits on.
func isLineBoundary(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// pySplitlines is str.splitlines(keepends).
func pySplitlines(s string, keepends bool) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isLineBoundary(r) {
			i += size
			continue
		}
		end := i + size
		if r == '\r' && end < len(s) && s[end] == '\n' {
			end++
		}
		if keepends {
			out = append(out, s[start:end])
		} else {
			out = append(out, s[start:i])
		}
		start = end
		i = end
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// pyLen is len() of a str: code points.
func pyLen(s string) int { return utf8.RuneCountInString(s) }

// hasOrdered reports whether an OrderedDict occurs anywhere in v.
func hasOrdered(v any) bool {
	switch t := v.(type) {
	case *object:
		if t.ordered {
			return true
		}
		for _, k := range t.keys {
			if hasOrdered(t.vals[k]) {
				return true
			}
		}
	case *array:
		for _, x := range t.items {
			if hasOrdered(x) {
				return true
			}
		}
	}
	return false
}

// plainCopy is json.loads(json.dumps(v)): fresh plain dicts and lists.
func plainCopy(v any) any {
	switch t := v.(type) {
	case *object:
		o := newObject(false)
		for _, k := range t.keys {
			o.set(k, plainCopy(t.vals[k]))
		}
		return o
	case *array:
		a := &array{items: make([]any, len(t.items))}
		for i, x := range t.items {
			a.items[i] = plainCopy(x)
		}
		return a
	}
	return v
}

// export turns an internal value into plain Go values (map[string]any,
// []any, json.Number, ...) for a table transformer.
func export(v any) any {
	switch t := v.(type) {
	case *object:
		m := make(map[string]any, len(t.keys))
		for _, k := range t.keys {
			m[k] = export(t.vals[k])
		}
		return m
	case *array:
		out := make([]any, len(t.items))
		for i, x := range t.items {
			out[i] = export(x)
		}
		return out
	case int64:
		return json.Number(strconv.FormatInt(t, 10))
	case *big.Int:
		return json.Number(t.String())
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return t
		}
		return json.Number(pyFloatRepr(t))
	}
	return v
}
