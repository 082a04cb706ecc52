package blob_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/amlid/amlid/internal/testenv"
)

// azblob's pager walks a container by marker: each blob that lives through
// the walk is listed exactly once while others are uploaded and deleted
// between pages; a page never exceeds maxresults; a tampered marker, or one
// from another container, is 400.
func TestListBlobsMarkerWhileWriting(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("pages", nil)
	c := keyClient(t, e, "pages", e.AccountKey("pages"))
	ctx := t.Context()
	for _, cont := range []string{"walk", "other"} {
		_, err := c.CreateContainer(ctx, cont, nil)
		must(t, err)
	}
	live := map[string]bool{}
	put := func(name string) {
		_, err := c.UploadBuffer(ctx, "walk", name, []byte(name), nil)
		must(t, err)
		live[name] = true
	}
	for i := range 40 {
		put(fmt.Sprintf("b%03d", i*10))
	}
	stable := map[string]bool{}
	for k := range live {
		stable[k] = true
	}
	deletedUnseen := map[string]bool{}
	var seen []string
	var firstMarker string
	pager := c.NewListBlobsFlatPager("walk", &azblob.ListBlobsFlatOptions{MaxResults: ptr(int32(4))})
	for page := 0; pager.More(); page++ {
		p, err := pager.NextPage(ctx)
		must(t, err)
		if len(p.Segment.BlobItems) > 4 {
			t.Fatalf("page of %d blobs with maxresults 4", len(p.Segment.BlobItems))
		}
		for _, b := range p.Segment.BlobItems {
			seen = append(seen, *b.Name)
		}
		if page == 0 {
			firstMarker = *p.NextMarker
		}
		for _, name := range []string{fmt.Sprintf("b%03d", page*10), fmt.Sprintf("b%03d", 390-page*10)} {
			if live[name] {
				_, err := c.DeleteBlob(ctx, "walk", name, nil)
				must(t, err)
				delete(live, name)
				delete(stable, name)
				if !slices.Contains(seen, name) {
					deletedUnseen[name] = true
				}
			}
		}
		put(fmt.Sprintf("b%03d", page*10+1))
		put(fmt.Sprintf("b%03d", 395-page*10))
	}
	count := map[string]int{}
	for _, name := range seen {
		if count[name]++; count[name] > 1 {
			t.Fatalf("%s listed twice", name)
		}
		if deletedUnseen[name] {
			t.Fatalf("%s listed after its deletion", name)
		}
	}
	for name := range stable {
		if count[name] != 1 {
			t.Fatalf("%s lived through the walk but was listed %d times", name, count[name])
		}
	}
	if len(stable) < 15 || firstMarker == "" {
		t.Fatalf("test setup: %d stable blobs, marker %q", len(stable), firstMarker)
	}

	tampered := []byte(firstMarker)
	tampered[len(tampered)/2] ^= 1
	for name, tc := range map[string]struct{ cont, marker string }{
		"tampered":          {"walk", string(tampered)},
		"invented":          {"walk", "1!bmIwMDA"},
		"another container": {"other", firstMarker},
	} {
		_, err := c.ServiceClient().NewContainerClient(tc.cont).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Marker: ptr(tc.marker)}).NextPage(ctx)
		if statusOf(err) != 400 || !bloberror.HasCode(err, bloberror.OutOfRangeQueryParameterValue, bloberror.InvalidQueryParameterValue) {
			t.Errorf("%s marker: %v, want 400", name, err)
		}
	}
}
