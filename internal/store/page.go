package store

import "context"

// PageOptions select one page of a listing in key order.
type PageOptions struct {
	Parent    string // exact parent match, as in ListOptions
	KeyPrefix string // keys starting with this prefix, as in ListOptions
	// After is the cursor: the page starts strictly after this key ("" =
	// from the start). It is a Page's Next, possibly from an earlier
	// revision of the store: the key need not exist any more.
	After string
	// Limit is the page size; a page never holds more (≤ 0 means 100).
	Limit int
	// Keep, if set, drops the records it returns false for: filters no
	// index answers. A page then may be short, even empty, while Next says
	// more follow, because at most MaxScan records are read per page.
	Keep func(Record) bool
	// MaxScan bounds the records read per page when Keep is set
	// (default 10 × Limit, at least 1,000).
	MaxScan int
}

// Page is one page of a listing.
type Page struct {
	Records []Record
	// Next is the cursor of the next page (its After), "" when the listing
	// is done.
	Next string
}

// ListPage reads one page. It costs O(Limit) (O(MaxScan) with Keep) on every
// backend, whatever the number of records: backends answer List with
// After and Limit from an ordered index, never by reading the whole kind.
//
// A walk that passes each Next back as After visits every record that
// exists for the whole walk exactly once, in key order, even while others
// are created and deleted; a record created or deleted during the walk is
// visited at most once.
func ListPage(ctx context.Context, rd Reader, kind string, o PageOptions) (Page, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = 100
	}
	lo := ListOptions{Parent: o.Parent, KeyPrefix: o.KeyPrefix, After: o.After}
	if o.Keep == nil {
		lo.Limit = limit + 1 // one more tells whether a next page exists
		recs, err := rd.List(ctx, kind, lo)
		if err != nil {
			return Page{}, err
		}
		if len(recs) <= limit {
			return Page{Records: recs}, nil
		}
		recs = recs[:limit]
		return Page{Records: recs, Next: recs[limit-1].Key}, nil
	}
	budget := o.MaxScan
	if budget <= 0 {
		budget = max(10*limit, 1000)
	}
	var out []Record
	for scanned := 0; ; {
		lo.Limit = min(max(limit+1, 256), budget-scanned+1)
		recs, err := rd.List(ctx, kind, lo)
		if err != nil {
			return Page{}, err
		}
		for _, r := range recs {
			if len(out) == limit {
				// Full, and something follows (kept or not: finding out
				// could read the rest of the kind).
				return Page{Records: out, Next: out[limit-1].Key}, nil
			}
			if scanned == budget {
				// Out of budget: a short page that resumes here.
				return Page{Records: out, Next: lo.After}, nil
			}
			scanned++
			lo.After = r.Key
			if o.Keep(r) {
				out = append(out, r)
			}
		}
		if len(recs) < lo.Limit {
			return Page{Records: out}, nil
		}
	}
}
