package output

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// tabulate is tabulate 0.8.9's
//
//	tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True)
//
// for a list of OrderedDicts, without wcwidth (az does not ship it): widths
// are code point counts. With number parsing disabled every column is text,
// left aligned, each cell str(value) stripped of surrounding whitespace.
func tabulate(rows []*object) string {
	var headers []string
	seen := map[string]bool{}
	for _, r := range rows {
		for _, k := range r.keys {
			if !seen[k] {
				seen[k] = true
				headers = append(headers, k)
			}
		}
	}
	raw := make([][]any, len(rows))
	for i, r := range rows {
		raw[i] = make([]any, len(headers))
		for j, h := range headers {
			raw[i][j] = r.vals[h] // missing -> None
		}
	}

	// plain_text decides has_invisible and is_multiline.
	var pt strings.Builder
	pt.WriteString(strings.Join(headers, "\t"))
	for _, r := range raw {
		pt.WriteByte('\t')
		for j, c := range r {
			if j > 0 {
				pt.WriteByte('\t')
			}
			pt.WriteString(pyStr(c))
		}
	}
	plain := pt.String()
	hasInvisible := invisibleCodes.MatchString(plain) || invisibleLink.MatchString(plain)
	multiline := strings.ContainsAny(plain, "\r\n")

	lineWidth := func(s string) int {
		if hasInvisible {
			return pyLen(stripInvisible(s))
		}
		return pyLen(s)
	}
	widthFn := func(s string) int { // _choose_width_fn
		if !multiline {
			return lineWidth(s)
		}
		m := 0
		for _, l := range reSplitCRLF(s) {
			m = max(m, lineWidth(l))
		}
		return m
	}

	ncols := len(headers)
	cols := make([][]string, ncols)
	for j := 0; j < ncols; j++ {
		cols[j] = make([]string, len(raw))
		for i := range raw {
			if raw[i][j] == nil {
				cols[j][i] = "" // missingval
			} else {
				cols[j][i] = pyStr(raw[i][j])
			}
		}
	}
	minwidths := make([]int, ncols)
	for j, h := range headers {
		minwidths[j] = widthFn(h) + 2 // MIN_PADDING
	}
	for j := range cols {
		cols[j] = alignColumn(cols[j], minwidths[j], hasInvisible, multiline, lineWidth)
	}
	if ncols > 0 {
		for j := range cols {
			for _, cl := range cols[j] {
				minwidths[j] = max(minwidths[j], widthFn(cl))
			}
		}
		for j, h := range headers {
			headers[j] = alignHeader(h, minwidths[j], multiline, lineWidth)
		}
	}

	// _format_table with the "simple" format: no line above or below when
	// there are headers, padding 0, "  " between columns, rows rstripped.
	var lines []string
	buildRow := func(cells []string) string {
		return strings.TrimRightFunc(strings.Join(cells, "  "), pyIsSpace)
	}
	appendRow := func(cells []string) {
		if !multiline {
			lines = append(lines, buildRow(cells))
			return
		}
		cellLines := make([][]string, len(cells))
		n := 0
		for i, c := range cells {
			cellLines[i] = pySplitlines(c, false)
			n = max(n, len(cellLines[i]))
		}
		for i := range cellLines {
			for len(cellLines[i]) < n {
				cellLines[i] = append(cellLines[i], strings.Repeat(" ", minwidths[i]))
			}
		}
		for l := 0; l < n; l++ {
			ln := make([]string, len(cells))
			for i := range cells {
				ln[i] = cellLines[i][l]
			}
			lines = append(lines, buildRow(ln))
		}
	}
	dashes := func() string {
		cells := make([]string, ncols)
		for j, w := range minwidths {
			cells[j] = strings.Repeat("-", w)
		}
		return buildRow(cells)
	}
	if ncols > 0 {
		appendRow(headers)
		lines = append(lines, dashes())
		for i := range raw {
			row := make([]string, ncols)
			for j := range cols {
				row[j] = cols[j][i]
			}
			appendRow(row)
		}
	} else {
		// headers == []: rows collapse to nothing and the table is "".
		return ""
	}
	return strings.Join(lines, "\n")
}

var (
	invisibleCodes = regexp.MustCompile(`\x1b\[\d+[;\d]*m|\x1b\[\d*;\d*;\d*m|\x1b\]8;;(.*?)\x1b\\`)
	invisibleLink  = regexp.MustCompile(`\x1b\]8;[a-zA-Z0-9:]*;[^\x1b]+\x1b\\([^\x1b]+)\x1b\]8;;\x1b\\`)
)

func stripInvisible(s string) string {
	s = invisibleLink.ReplaceAllString(s, "$1")
	return invisibleCodes.ReplaceAllString(s, "")
}

func padRight(width int, s string) string {
	if n := pyLen(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// alignColumn is _align_column(strings, "left", minwidth, has_invisible,
// enable_widechars=False, is_multiline).
func alignColumn(cells []string, minwidth int, hasInvisible, multiline bool, lineWidth func(string) int) []string {
	strs := make([]string, len(cells))
	for i, c := range cells {
		strs[i] = pyStrip(c)
	}
	maxwidth := minwidth
	for _, s := range strs {
		if multiline {
			for _, l := range reSplitCRLF(s) {
				maxwidth = max(maxwidth, lineWidth(l))
			}
		} else {
			maxwidth = max(maxwidth, lineWidth(s))
		}
	}
	out := make([]string, len(strs))
	for i, s := range strs {
		if multiline {
			parts := pySplitlines(s, false)
			if !hasInvisible {
				for k, p := range parts {
					parts[k] = padRight(maxwidth, p)
				}
				out[i] = strings.Join(parts, "\n")
				continue
			}
			// widths per line of re.split("[\r\n]"), zipped with splitlines()
			segs := reSplitCRLF(s)
			n := min(len(parts), len(segs))
			padded := make([]string, n)
			for k := 0; k < n; k++ {
				w := maxwidth - (lineWidth(segs[k]) - pyLen(segs[k]))
				padded[k] = padRight(w, parts[k])
			}
			out[i] = strings.Join(padded, "\n")
			continue
		}
		if !hasInvisible {
			out[i] = padRight(maxwidth, s)
		} else {
			out[i] = padRight(maxwidth-(lineWidth(s)-pyLen(s)), s)
		}
	}
	return out
}

// reSplitCRLF is re.split("[\r\n]", s).
func reSplitCRLF(s string) []string { return splitOnAny(s, "\r\n") }

// alignHeader is _align_header(header, "left", width, visible_width,
// is_multiline, width_fn).
func alignHeader(h string, width int, multiline bool, lineWidth func(string) int) string {
	one := func(h string) string {
		return padRight(width+pyLen(h)-lineWidth(h), h)
	}
	if !multiline {
		return one(h)
	}
	parts := splitMultilineCodes(h)
	for i, p := range parts {
		parts[i] = one(p)
	}
	return strings.Join(parts, "\n")
}

// splitMultilineCodes is re.split(r"\r|\n|\r\n", s): every \r and \n splits.
func splitMultilineCodes(s string) []string {
	return splitOnAny(s, "\r\n")
}

func splitOnAny(s, seps string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(seps, s[i]) >= 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// pyUpper is str.upper() of one character, with the full case mappings
// that turn one character into several.
func pyUpper(r rune) string {
	if s, ok := specialUpper[r]; ok {
		return s
	}
	return string(unicode.ToUpper(r))
}

var specialUpper = map[rune]string{
	'ß': "SS", 'ŉ': "ʼN", 'ǰ': "J̌", 'ΐ': "Ϊ́", 'ΰ': "Ϋ́", 'և': "ԵՒ",
	'ẖ': "H̱", 'ẗ': "T̈", 'ẘ': "W̊", 'ẙ': "Y̊", 'ẚ': "Aʾ",
	'ﬀ': "FF", 'ﬁ': "FI", 'ﬂ': "FL", 'ﬃ': "FFI", 'ﬄ': "FFL", 'ﬅ': "ST", 'ﬆ': "ST",
	'ﬓ': "ՄՆ", 'ﬔ': "ՄԵ", 'ﬕ': "ՄԻ", 'ﬖ': "ՎՆ", 'ﬗ': "ՄԽ",
}

// --- difflib.get_close_matches ---------------------------------------------

// closeMatches is difflib.get_close_matches(word, possibilities, n, cutoff).
func closeMatches(word string, possibilities []string, n int, cutoff float64) []string {
	type scored struct {
		score float64
		s     string
	}
	var res []scored
	b := []rune(word)
	for _, x := range possibilities {
		a := []rune(x)
		if r := seqRatio(a, b); r >= cutoff {
			res = append(res, scored{r, x})
		}
	}
	// heapq.nlargest on (score, x): larger score first, then larger x.
	sort.SliceStable(res, func(i, j int) bool {
		if res[i].score != res[j].score {
			return res[i].score > res[j].score
		}
		return res[i].s > res[j].s
	})
	var out []string
	for i := 0; i < len(res) && i < n; i++ {
		out = append(out, res[i].s)
	}
	return out
}

// seqRatio is SequenceMatcher(None, a, b).ratio() (no junk; the
// autojunk heuristic only applies to sequences of 200 or more).
func seqRatio(a, b []rune) float64 {
	total := len(a) + len(b)
	if total == 0 {
		return 1
	}
	b2j := map[rune][]int{}
	for j, r := range b {
		b2j[r] = append(b2j[r], j)
	}
	longest := func(alo, ahi, blo, bhi int) (int, int, int) {
		besti, bestj, bestsize := alo, blo, 0
		j2len := map[int]int{}
		for i := alo; i < ahi; i++ {
			newj2len := map[int]int{}
			for _, j := range b2j[a[i]] {
				if j < blo {
					continue
				}
				if j >= bhi {
					break
				}
				k := j2len[j-1] + 1
				newj2len[j] = k
				if k > bestsize {
					besti, bestj, bestsize = i-k+1, j-k+1, k
				}
			}
			j2len = newj2len
		}
		return besti, bestj, bestsize
	}
	matches := 0
	type span struct{ alo, ahi, blo, bhi int }
	queue := []span{{0, len(a), 0, len(b)}}
	for len(queue) > 0 {
		s := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		i, j, k := longest(s.alo, s.ahi, s.blo, s.bhi)
		if k == 0 {
			continue
		}
		matches += k
		if s.alo < i && s.blo < j {
			queue = append(queue, span{s.alo, i, s.blo, j})
		}
		if i+k < s.ahi && j+k < s.bhi {
			queue = append(queue, span{i + k, s.ahi, j + k, s.bhi})
		}
	}
	return 2 * float64(matches) / float64(total)
}
