package output

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// dumpsPretty is knack's format_json:
//
//	json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True,
//	           separators=(',', ': ')) + '\n'
func dumpsPretty(v any) string {
	var b strings.Builder
	writePretty(&b, v, 0)
	b.WriteByte('\n')
	return b.String()
}

func writePretty(b *strings.Builder, v any, level int) {
	switch t := v.(type) {
	case *object:
		if len(t.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		inner := "\n" + strings.Repeat("  ", level+1)
		for i, k := range t.sortedKeys() {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(inner)
			writeJSONString(b, k, false)
			b.WriteString(": ")
			writePretty(b, t.vals[k], level+1)
		}
		b.WriteString("\n" + strings.Repeat("  ", level) + "}")
	case *array:
		if len(t.items) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		inner := "\n" + strings.Repeat("  ", level+1)
		for i, x := range t.items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(inner)
			writePretty(b, x, level+1)
		}
		b.WriteString("\n" + strings.Repeat("  ", level) + "]")
	default:
		writeJSONScalar(b, v, false)
	}
}

// dumpsCompact is json.dumps(v, separators=(',', ':')) as JMESPath's
// to_string() calls it: insertion order, ensure_ascii=True.
func dumpsCompact(v any) string {
	var b strings.Builder
	writeCompact(&b, v)
	return b.String()
}

func writeCompact(b *strings.Builder, v any) {
	switch t := v.(type) {
	case *object:
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k, true)
			b.WriteByte(':')
			writeCompact(b, t.vals[k])
		}
		b.WriteByte('}')
	case *array:
		b.WriteByte('[')
		for i, x := range t.items {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCompact(b, x)
		}
		b.WriteByte(']')
	default:
		writeJSONScalar(b, v, true)
	}
}

func writeJSONScalar(b *strings.Builder, v any, ascii bool) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case *big.Int:
		b.WriteString(t.String())
	case float64:
		switch {
		case math.IsNaN(t):
			b.WriteString("NaN")
		case math.IsInf(t, 1):
			b.WriteString("Infinity")
		case math.IsInf(t, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyFloatRepr(t))
		}
	case string:
		writeJSONString(b, t, ascii)
	case *expref:
		// default=str in to_string; not reachable from output.
		writeJSONString(b, pyStr(t), ascii)
	default:
		writeJSONString(b, fmt.Sprint(t), ascii)
	}
}

// writeJSONString is py_encode_basestring (ascii=false) or
// py_encode_basestring_ascii (ascii=true).
func writeJSONString(b *strings.Builder, s string, ascii bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20:
				fmt.Fprintf(b, `\u%04x`, r)
			case ascii && r > 0x7e:
				if r > 0xffff {
					r -= 0x10000
					fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800|((r>>10)&0x3ff), 0xdc00|(r&0x3ff))
				} else {
					fmt.Fprintf(b, `\u%04x`, r)
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
