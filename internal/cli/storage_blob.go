package cli

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

// Transfer sizes (az 2.45 uploads up to 64 MiB in one Put Blob).
const (
	singlePutMax   = 64 << 20
	blockSize      = 8 << 20
	transferJobs   = 4
	containerQuery = "container"
)

func parseMetadataFlag(kvs []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range kvs {
		for _, kv := range strings.Fields(s) {
			k, v, _ := strings.Cut(kv, "=")
			if k == "" {
				return nil, usageErr("invalid metadata %q: use key=value", kv)
			}
			h["x-ms-meta-"+k] = []string{v}
		}
	}
	return h, nil
}

// dataPlaneCmd is a storage data-plane verb with az's connection flags
// (--account-name, --account-key, --sas-token, --auth-mode,
// --blob-endpoint): run gets the client they make.
func (a *app) dataPlaneCmd(use, short string, run func(ctx context.Context, bc *blobClient) error) *cobra.Command {
	return a.checkedDataPlaneCmd(use, short, nil, run)
}

// checkedDataPlaneCmd is dataPlaneCmd with check (when not nil) run
// before the client is made: confirmation, flag combinations.
func (a *app) checkedDataPlaneCmd(use, short string, check func() error, run func(ctx context.Context, bc *blobClient) error) *cobra.Command {
	var f blobAuthFlags
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if check != nil {
				if err := check(); err != nil {
					return err
				}
			}
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			return run(c.Context(), bc)
		},
	}
	f.register(c)
	return c
}

// requiredName registers a required -n/--name.
func requiredName(c *cobra.Command, name *string, help string) *cobra.Command {
	c.Flags().StringVarP(name, "name", "n", "", help)
	c.MarkFlagRequired("name")
	return c
}

// containerQ is the query of a container operation.
func containerQ() url.Values { return url.Values{"restype": {containerQuery}} }

func (a *app) storageContainerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage blob containers (data plane)"}
	cmd.AddCommand(a.containerCreateCmd(), a.containerShowCmd(),
		a.containerFlagCmd("exists", "Check whether a container exists", http.MethodHead, "exists"),
		a.containerFlagCmd("delete", "Delete a container and its blobs", http.MethodDelete, "deleted"),
		a.containerListCmd())
	return cmd
}

func (a *app) containerCreateCmd() *cobra.Command {
	var name, publicAccess string
	var metadata []string
	c := a.dataPlaneCmd("create", "Create a container", func(ctx context.Context, bc *blobClient) error {
		h, err := parseMetadataFlag(metadata)
		if err != nil {
			return err
		}
		switch strings.ToLower(publicAccess) {
		case "", "off":
		case "blob", "container":
			h.Set("x-ms-blob-public-access", strings.ToLower(publicAccess))
		default:
			return usageErr("--public-access must be off, blob or container")
		}
		return a.printCreated(bc.doClose(ctx, http.MethodPut, name, containerQ(), h, nil, 0))
	})
	c.Flags().StringVar(&publicAccess, "public-access", "", "off, blob or container")
	c.Flags().StringSliceVar(&metadata, "metadata", nil, "Space-separated key=value metadata")
	return requiredName(c, &name, "Container name")
}

// printCreated prints az's {"created": bool} for a container or file
// system create (false when it already exists).
func (a *app) printCreated(_ *http.Response, err error) error {
	if codeOf(err) == "ContainerAlreadyExists" {
		return a.print(map[string]any{"created": false})
	}
	if err != nil {
		return err
	}
	return a.print(map[string]any{"created": true})
}

func (a *app) containerShowCmd() *cobra.Command {
	var name string
	c := a.dataPlaneCmd("show", "Show a container's properties", func(ctx context.Context, bc *blobClient) error {
		resp, err := bc.doClose(ctx, http.MethodGet, name, containerQ(), nil, nil, 0)
		if err != nil {
			return err
		}
		h := resp.Header
		return a.print(containerShape(name, h.Get("ETag"), h.Get("Last-Modified"), h.Get("x-ms-blob-public-access"), metaFromHeaders(h)))
	})
	return requiredName(c, &name, "Container name")
}

// containerFlagCmd runs one request on the container and prints az's
// {"exists"|"deleted": bool} shape (false when the container is missing).
func (a *app) containerFlagCmd(use, short, method, key string) *cobra.Command {
	var name string
	c := a.dataPlaneCmd(use, short, func(ctx context.Context, bc *blobClient) error {
		_, err := bc.doClose(ctx, method, name, containerQ(), nil, nil, 0)
		if codeOf(err) == "ContainerNotFound" {
			return a.print(map[string]any{key: false})
		}
		if err != nil {
			return err
		}
		return a.print(map[string]any{key: true})
	})
	return requiredName(c, &name, "Container name")
}

func (a *app) containerListCmd() *cobra.Command {
	var prefix string
	var numResults int
	c := a.dataPlaneCmd("list", "List containers", func(ctx context.Context, bc *blobClient) error {
		out := []any{}
		marker := ""
		for {
			v := url.Values{"comp": {"list"}, "include": {"metadata"}}
			if prefix != "" {
				v.Set("prefix", prefix)
			}
			if marker != "" {
				v.Set("marker", marker)
			}
			resp, err := bc.request(ctx, http.MethodGet, "", v, nil, nil, 0)
			if err != nil {
				return err
			}
			var doc xmlListContainers
			err = xml.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("the blob service answered an unreadable container list: %w", err)
			}
			for _, ci := range doc.Containers {
				out = append(out, containerShape(ci.Name, ci.Properties.Etag, ci.Properties.LastModified, ci.Properties.PublicAccess, ci.Metadata.mapOf()))
				if numResults > 0 && len(out) == numResults {
					return a.print(out)
				}
			}
			if marker = doc.NextMarker; marker == "" {
				return a.print(out)
			}
		}
	})
	c.Flags().StringVar(&prefix, "prefix", "", "Only containers whose names start with this prefix")
	c.Flags().IntVar(&numResults, "num-results", 0, "The most containers to list")
	return c
}

// blobArgs are -c/--container-name and -n/--name.
type blobArgs struct {
	container, name string
}

func (b *blobArgs) register(c *cobra.Command, withName bool) {
	c.Flags().StringVarP(&b.container, "container-name", "c", "", "Container name")
	c.MarkFlagRequired("container-name")
	if withName {
		c.Flags().StringVarP(&b.name, "name", "n", "", "Blob name")
		c.MarkFlagRequired("name")
	}
}

// path is the blob's path below the account.
func (b *blobArgs) path() string { return b.container + "/" + b.name }

// blobCmd is a data-plane verb on one blob (-c, -n).
func (a *app) blobCmd(use, short string, run func(ctx context.Context, bc *blobClient, b *blobArgs) error) *cobra.Command {
	var b blobArgs
	c := a.dataPlaneCmd(use, short, func(ctx context.Context, bc *blobClient) error { return run(ctx, bc, &b) })
	b.register(c, true)
	return c
}

func (a *app) storageBlobCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "blob", Short: "Manage blobs (data plane)"}
	cmd.AddCommand(a.blobUploadCmd(), a.blobDownloadCmd(), a.blobShowCmd(), a.blobExistsCmd(), a.blobDeleteCmd(), a.blobListCmd(),
		a.blobUploadBatchCmd(), a.blobDownloadBatchCmd())
	return cmd
}

func (a *app) blobUploadCmd() *cobra.Command {
	var ba blobArgs
	var file, contentType string
	var overwrite, noProgress bool
	var metadata []string
	c := a.dataPlaneCmd("upload", "Upload a file to a blob", func(ctx context.Context, bc *blobClient) error {
		md, err := parseMetadataFlag(metadata)
		if err != nil {
			return err
		}
		name := ba.name
		if name == "" {
			name = filepath.Base(file)
		}
		res, err := a.uploadFile(ctx, bc, ba.container, name, file, contentType, md, overwrite, !noProgress)
		if err != nil {
			return err
		}
		return a.print(res)
	})
	fl := c.Flags()
	fl.StringVarP(&file, "file", "f", "", "Path of the file to upload")
	c.MarkFlagRequired("file")
	fl.StringVar(&contentType, "content-type", "", "The blob's content type (default: guessed from the file name)")
	fl.StringSliceVar(&metadata, "metadata", nil, "Space-separated key=value metadata")
	fl.BoolVar(&overwrite, "overwrite", false, "Replace an existing blob")
	fl.BoolVar(&noProgress, "no-progress", false, "Do not show the progress bar")
	fl.StringVar(new(string), "type", "block", "Blob type (amlid stores block blobs)")
	fl.MarkHidden("type")
	ba.register(c, false)
	fl.StringVarP(&ba.name, "name", "n", "", "Blob name (default: the file name)")
	return c
}

func (a *app) blobDownloadCmd() *cobra.Command {
	var file string
	var noProgress bool
	c := a.blobCmd("download", "Download a blob to a file", func(ctx context.Context, bc *blobClient, b *blobArgs) error {
		res, err := a.downloadFile(ctx, bc, b.container, b.name, file, !noProgress)
		if err != nil {
			return err
		}
		return a.print(res)
	})
	c.Flags().StringVarP(&file, "file", "f", "", "Path of the file to write")
	c.MarkFlagRequired("file")
	c.Flags().BoolVar(&noProgress, "no-progress", false, "Do not show the progress bar")
	return c
}

func (a *app) blobShowCmd() *cobra.Command {
	return a.blobCmd("show", "Show a blob's properties", func(ctx context.Context, bc *blobClient, b *blobArgs) error {
		resp, err := bc.doClose(ctx, http.MethodHead, b.path(), nil, nil, nil, 0)
		if err != nil {
			return err
		}
		return a.print(blobShape(b.container, b.name, resp.Header.Get, metaFromHeaders(resp.Header)))
	})
}

func (a *app) blobExistsCmd() *cobra.Command {
	return a.blobCmd("exists", "Check whether a blob exists", func(ctx context.Context, bc *blobClient, b *blobArgs) error {
		_, err := bc.doClose(ctx, http.MethodHead, b.path(), nil, nil, nil, 0)
		if ce, ok := err.(storageCodeError); ok && ce.Status == http.StatusNotFound {
			return a.print(map[string]any{"exists": false})
		}
		if err != nil {
			return err
		}
		return a.print(map[string]any{"exists": true})
	})
}

func (a *app) blobDeleteCmd() *cobra.Command {
	return a.blobCmd("delete", "Delete a blob", func(ctx context.Context, bc *blobClient, b *blobArgs) error {
		_, err := bc.doClose(ctx, http.MethodDelete, b.path(), nil, nil, nil, 0)
		return err
	})
}

func (a *app) blobListCmd() *cobra.Command {
	var ba blobArgs
	var prefix, delimiter string
	var numResults int
	c := a.dataPlaneCmd("list", "List blobs", func(ctx context.Context, bc *blobClient) error {
		items, err := a.listBlobs(ctx, bc, ba.container, prefix, delimiter, numResults)
		if err != nil {
			return err
		}
		return a.print(items)
	})
	c.Flags().StringVar(&prefix, "prefix", "", "Only blobs whose names start with this prefix")
	c.Flags().StringVar(&delimiter, "delimiter", "", "Group names under prefixes ending in this delimiter (listed as {\"name\": prefix})")
	c.Flags().IntVar(&numResults, "num-results", 5000, "The most blobs to list (0 = all)")
	ba.register(c, false)
	return c
}

// batchFlags are -s/--source, -d/--destination and --pattern, required
// but the pattern.
type batchFlags struct{ source, dest, pattern string }

func (b *batchFlags) register(c *cobra.Command, source, dest, pattern string) {
	c.Flags().StringVarP(&b.source, "source", "s", "", source)
	c.Flags().StringVarP(&b.dest, "destination", "d", "", dest)
	c.Flags().StringVar(&b.pattern, "pattern", "", pattern)
	for _, fl := range []string{"source", "destination"} {
		c.MarkFlagRequired(fl)
	}
}

// parallel runs fn on 0..n-1, transferJobs at a time, and returns the
// first error.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, transferJobs)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func (a *app) blobUploadBatchCmd() *cobra.Command {
	var bf batchFlags
	var destPath, contentType string
	var overwrite bool
	var metadata []string
	c := a.dataPlaneCmd("upload-batch", "Upload the files of a directory", func(ctx context.Context, bc *blobClient) error {
		md, err := parseMetadataFlag(metadata)
		if err != nil {
			return err
		}
		var files []string
		err = filepath.WalkDir(bf.source, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(bf.source, p)
			rel = filepath.ToSlash(rel)
			if bf.pattern == "" || fnmatch(bf.pattern, rel) {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			return &cliError{Message: err.Error(), Exit: exitError}
		}
		out := make([]any, len(files))
		err = parallel(len(files), func(i int) error {
			name := files[i]
			if destPath != "" {
				name = strings.TrimSuffix(destPath, "/") + "/" + files[i]
			}
			res, err := a.uploadFile(ctx, bc, bf.dest, name, filepath.Join(bf.source, filepath.FromSlash(files[i])), contentType, md, overwrite, false)
			if err != nil {
				return err
			}
			out[i] = map[string]any{"Blob": bc.base + "/" + escapePath(bf.dest+"/"+name), "Last Modified": res["lastModified"],
				"Type": res["contentType"], "eTag": res["etag"]}
			return nil
		})
		if err != nil {
			return err
		}
		return a.print(out)
	})
	bf.register(c, "The directory to upload", "The container to upload to", "Upload only files whose relative path matches this glob")
	c.Flags().StringVar(&destPath, "destination-path", "", "A path prefix for the blob names")
	c.Flags().StringVar(&contentType, "content-type", "", "Content type of every blob (default: guessed per file)")
	c.Flags().StringSliceVar(&metadata, "metadata", nil, "Space-separated key=value metadata")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "Replace existing blobs")
	return c
}

func (a *app) blobDownloadBatchCmd() *cobra.Command {
	var bf batchFlags
	c := a.dataPlaneCmd("download-batch", "Download the blobs of a container into a directory", func(ctx context.Context, bc *blobClient) error {
		items, err := a.listBlobs(ctx, bc, bf.source, "", "", 0)
		if err != nil {
			return err
		}
		var names []string
		for _, it := range items {
			n, _ := it.(map[string]any)["name"].(string)
			if bf.pattern == "" || fnmatch(bf.pattern, n) {
				names = append(names, n)
			}
		}
		root, err := filepath.Abs(bf.dest)
		if err != nil {
			return err
		}
		targets := make([]string, len(names))
		for i, n := range names {
			targets[i] = filepath.Join(root, filepath.FromSlash(n))
			if rel, err := filepath.Rel(root, targets[i]); err != nil || rel == "." || strings.HasPrefix(rel, "..") || strings.HasSuffix(n, "/") {
				return &cliError{Message: fmt.Sprintf("the blob name %q would be written outside %s; refusing to download it (rename the blob or download it alone with -f)", n, root), Exit: exitError}
			}
		}
		err = parallel(len(names), func(i int) error {
			_, err := a.downloadFile(ctx, bc, bf.source, names[i], targets[i], false)
			return err
		})
		if err != nil {
			return err
		}
		out := make([]any, len(names))
		for i, n := range names {
			out[i] = n
		}
		return a.print(out)
	})
	bf.register(c, "The container to download from", "The directory to write into", "Download only blobs whose names match this glob")
	return c
}

// uploadResult is az's upload answer.
type uploadResult = map[string]any

// uploadFile uploads one file: one Put Blob up to 64 MiB, else 8 MiB
// blocks (four at a time) and a block list.
func (a *app) uploadFile(ctx context.Context, bc *blobClient, container, name, file, contentType string, md http.Header, overwrite, showProgress bool) (uploadResult, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, &cliError{Message: err.Error(), Exit: exitError}
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if contentType == "" {
		contentType = mime.TypeByExtension(filepath.Ext(file))
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h := http.Header{}
	for k, v := range md {
		h[k] = v
	}
	h.Set("x-ms-blob-content-type", contentType)
	if !overwrite {
		h.Set("If-None-Match", "*")
	}
	bar := a.newProgress(size)
	if !showProgress {
		bar.on = false
	}
	blobPath := container + "/" + name
	var resp *http.Response
	if size <= singlePutMax {
		h.Set("x-ms-blob-type", "BlockBlob")
		resp, err = bc.doClose(ctx, http.MethodPut, blobPath, nil, h, progressReader{fh, bar.add}, size)
		if err != nil {
			return nil, err
		}
	} else {
		n := int((size + blockSize - 1) / blockSize)
		ids := make([]string, n)
		errs := make(chan error, n)
		sem := make(chan struct{}, transferJobs)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			ids[i] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("amlid-block-%08d", i)))
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				off := int64(i) * blockSize
				ln := min(blockSize, size-off)
				sr := io.NewSectionReader(fh, off, ln)
				_, err := bc.doClose(ctx, http.MethodPut, blobPath, url.Values{"comp": {"block"}, "blockid": {ids[i]}}, nil, progressReader{sr, bar.add}, ln)
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return nil, err
		}
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
		for _, id := range ids {
			b.WriteString("<Latest>" + id + "</Latest>")
		}
		b.WriteString("</BlockList>")
		h.Set("Content-Type", "application/xml")
		body := b.String()
		resp, err = bc.doClose(ctx, http.MethodPut, blobPath, url.Values{"comp": {"blocklist"}}, h, strings.NewReader(body), int64(len(body)))
		if err != nil {
			return nil, err
		}
	}
	rh := resp.Header
	return uploadResult{
		"client_request_id": nullIfEmpty(rh.Get("x-ms-client-request-id")), "content_md5": nullIfEmpty(rh.Get("Content-MD5")),
		"date": isoTime(rh.Get("Date")), "encryption_key_sha256": nil, "encryption_scope": nil, "etag": rh.Get("ETag"),
		"lastModified": isoTime(rh.Get("Last-Modified")), "request_id": rh.Get("x-ms-request-id"),
		"request_server_encrypted": rh.Get("x-ms-request-server-encrypted") == "true", "version": rh.Get("x-ms-version"), "version_id": nil,
		"contentType": contentType,
	}, nil
}

// downloadFile streams a blob into file (through a temporary file, so a
// failed download leaves no partial file).
func (a *app) downloadFile(ctx context.Context, bc *blobClient, container, name, file string, showProgress bool) (map[string]any, error) {
	resp, err := bc.request(ctx, http.MethodGet, container+"/"+name, nil, nil, nil, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, &cliError{Message: err.Error(), Exit: exitError}
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".part-")
	if err != nil {
		return nil, &cliError{Message: err.Error(), Exit: exitError}
	}
	defer os.Remove(tmp.Name())
	size, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	bar := a.newProgress(size)
	if !showProgress {
		bar.on = false
	}
	n, err := io.Copy(tmp, progressReader{resp.Body, bar.add})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("the download ended after %d of %d bytes", n, size)
	}
	if err != nil {
		return nil, &cliError{Message: "download of " + name + " failed: " + err.Error(), Exit: exitError}
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return nil, &cliError{Message: err.Error(), Exit: exitError}
	}
	return blobShape(container, name, resp.Header.Get, metaFromHeaders(resp.Header)), nil
}

// listBlobs follows markers; max 0 lists everything.
func (a *app) listBlobs(ctx context.Context, bc *blobClient, container, prefix, delimiter string, max int) ([]any, error) {
	out := []any{}
	marker := ""
	for {
		v := url.Values{"restype": {containerQuery}, "comp": {"list"}, "include": {"metadata"}}
		if prefix != "" {
			v.Set("prefix", prefix)
		}
		if delimiter != "" {
			v.Set("delimiter", delimiter)
		}
		if marker != "" {
			v.Set("marker", marker)
		}
		resp, err := bc.request(ctx, http.MethodGet, container, v, nil, nil, 0)
		if err != nil {
			return nil, err
		}
		var doc xmlListBlobs
		err = xml.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("the blob service answered an unreadable blob list: %w", err)
		}
		for _, p := range doc.Blobs.BlobPrefix {
			out = append(out, map[string]any{"name": p.Name})
		}
		for _, b := range doc.Blobs.Blob {
			props := map[string]string{}
			for _, it := range b.Properties.Items {
				props[it.XMLName.Local] = it.Value
			}
			name := b.Name.Value
			if b.Name.Encoded {
				if d, err := url.PathUnescape(name); err == nil {
					name = d
				}
			}
			out = append(out, blobShape(container, name, func(k string) string { return props[k] }, b.Metadata.mapOf()))
			if max > 0 && len(out) >= max {
				return out, nil
			}
		}
		if marker = doc.NextMarker; marker == "" {
			return out, nil
		}
	}
}

// fnmatch matches like Python's fnmatch, which az's --pattern uses: '*'
// spans '/', '?' is one character, [seq] and [!seq] are classes.
func fnmatch(pattern, name string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i+1:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(name)
}
