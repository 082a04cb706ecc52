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

func (a *app) storageContainerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage blob containers (data plane)"}
	var f blobAuthFlags
	var name, publicAccess, prefix string
	var metadata []string
	var numResults int
	q := func(extra ...string) url.Values {
		v := url.Values{"restype": {containerQuery}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	create := &cobra.Command{
		Use: "create", Short: "Create a container", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
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
			_, err = bc.doClose(c.Context(), http.MethodPut, name, q(), h, nil, 0)
			if codeOf(err) == "ContainerAlreadyExists" {
				return a.print(map[string]any{"created": false})
			}
			if err != nil {
				return err
			}
			return a.print(map[string]any{"created": true})
		},
	}
	create.Flags().StringVar(&publicAccess, "public-access", "", "off, blob or container")
	create.Flags().StringSliceVar(&metadata, "metadata", nil, "Space-separated key=value metadata")
	show := &cobra.Command{
		Use: "show", Short: "Show a container's properties", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			resp, err := bc.doClose(c.Context(), http.MethodGet, name, q(), nil, nil, 0)
			if err != nil {
				return err
			}
			h := resp.Header
			return a.print(containerShape(name, h.Get("ETag"), h.Get("Last-Modified"), h.Get("x-ms-blob-public-access"), metaFromHeaders(h)))
		},
	}
	// containerFlag runs one request on the container and prints az's
	// {"exists"|"deleted": bool} shape (false when the container is missing).
	containerFlag := func(c *cobra.Command, method, key string) error {
		bc, err := a.newBlobClient(c.Context(), &f)
		if err != nil {
			return err
		}
		_, err = bc.doClose(c.Context(), method, name, q(), nil, nil, 0)
		if codeOf(err) == "ContainerNotFound" {
			return a.print(map[string]any{key: false})
		}
		if err != nil {
			return err
		}
		return a.print(map[string]any{key: true})
	}
	exists := &cobra.Command{
		Use: "exists", Short: "Check whether a container exists", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return containerFlag(c, http.MethodHead, "exists") },
	}
	del := &cobra.Command{
		Use: "delete", Short: "Delete a container and its blobs", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return containerFlag(c, http.MethodDelete, "deleted") },
	}
	list := &cobra.Command{
		Use: "list", Short: "List containers", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
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
				resp, err := bc.request(c.Context(), http.MethodGet, "", v, nil, nil, 0)
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
		},
	}
	list.Flags().StringVar(&prefix, "prefix", "", "Only containers whose names start with this prefix")
	list.Flags().IntVar(&numResults, "num-results", 0, "The most containers to list")
	for _, c := range []*cobra.Command{create, show, exists, del, list} {
		f.register(c)
		if c != list {
			c.Flags().StringVarP(&name, "name", "n", "", "Container name")
			c.MarkFlagRequired("name")
		}
		cmd.AddCommand(c)
	}
	return cmd
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

func (a *app) storageBlobCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "blob", Short: "Manage blobs (data plane)"}
	var f blobAuthFlags
	var ba blobArgs
	var file, contentType, prefix, delimiter, pattern, source, dest, destPath string
	var overwrite, noProgress bool
	var metadata []string
	var numResults int

	upload := &cobra.Command{
		Use: "upload", Short: "Upload a file to a blob", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			md, err := parseMetadataFlag(metadata)
			if err != nil {
				return err
			}
			name := ba.name
			if name == "" {
				name = filepath.Base(file)
			}
			res, err := a.uploadFile(c.Context(), bc, ba.container, name, file, contentType, md, overwrite, !noProgress)
			if err != nil {
				return err
			}
			return a.print(res)
		},
	}
	upload.Flags().StringVarP(&file, "file", "f", "", "Path of the file to upload")
	upload.MarkFlagRequired("file")
	upload.Flags().StringVar(&contentType, "content-type", "", "The blob's content type (default: guessed from the file name)")
	upload.Flags().StringSliceVar(&metadata, "metadata", nil, "Space-separated key=value metadata")
	upload.Flags().BoolVar(&overwrite, "overwrite", false, "Replace an existing blob")
	upload.Flags().BoolVar(&noProgress, "no-progress", false, "Do not show the progress bar")
	upload.Flags().StringVar(new(string), "type", "block", "Blob type (amlid stores block blobs)")
	upload.Flags().MarkHidden("type")
	ba.register(upload, false)
	upload.Flags().StringVarP(&ba.name, "name", "n", "", "Blob name (default: the file name)")

	download := &cobra.Command{
		Use: "download", Short: "Download a blob to a file", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			res, err := a.downloadFile(c.Context(), bc, ba.container, ba.name, file, !noProgress)
			if err != nil {
				return err
			}
			return a.print(res)
		},
	}
	download.Flags().StringVarP(&file, "file", "f", "", "Path of the file to write")
	download.MarkFlagRequired("file")
	download.Flags().BoolVar(&noProgress, "no-progress", false, "Do not show the progress bar")
	ba.register(download, true)

	show := &cobra.Command{
		Use: "show", Short: "Show a blob's properties", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			resp, err := bc.doClose(c.Context(), http.MethodHead, ba.container+"/"+ba.name, nil, nil, nil, 0)
			if err != nil {
				return err
			}
			return a.print(blobShape(ba.container, ba.name, resp.Header.Get, metaFromHeaders(resp.Header)))
		},
	}
	ba.register(show, true)

	exists := &cobra.Command{
		Use: "exists", Short: "Check whether a blob exists", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			_, err = bc.doClose(c.Context(), http.MethodHead, ba.container+"/"+ba.name, nil, nil, nil, 0)
			if ce, ok := err.(storageCodeError); ok && ce.Status == http.StatusNotFound {
				return a.print(map[string]any{"exists": false})
			}
			if err != nil {
				return err
			}
			return a.print(map[string]any{"exists": true})
		},
	}
	ba.register(exists, true)

	del := &cobra.Command{
		Use: "delete", Short: "Delete a blob", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			_, err = bc.doClose(c.Context(), http.MethodDelete, ba.container+"/"+ba.name, nil, nil, nil, 0)
			return err
		},
	}
	ba.register(del, true)

	list := &cobra.Command{
		Use: "list", Short: "List blobs", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			items, err := a.listBlobs(c.Context(), bc, ba.container, prefix, delimiter, numResults)
			if err != nil {
				return err
			}
			return a.print(items)
		},
	}
	list.Flags().StringVar(&prefix, "prefix", "", "Only blobs whose names start with this prefix")
	list.Flags().StringVar(&delimiter, "delimiter", "", "Group names under prefixes ending in this delimiter (listed as {\"name\": prefix})")
	list.Flags().IntVar(&numResults, "num-results", 5000, "The most blobs to list (0 = all)")
	ba.register(list, false)

	uploadBatch := &cobra.Command{
		Use: "upload-batch", Short: "Upload the files of a directory", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			md, err := parseMetadataFlag(metadata)
			if err != nil {
				return err
			}
			var files []string
			err = filepath.WalkDir(source, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(source, p)
				rel = filepath.ToSlash(rel)
				if pattern != "" {
					if !fnmatch(pattern, rel) {
						return nil
					}
				}
				files = append(files, rel)
				return nil
			})
			if err != nil {
				return &cliError{Message: err.Error(), Exit: exitError}
			}
			out := make([]any, len(files))
			var wg sync.WaitGroup
			var firstErr error
			var mu sync.Mutex
			sem := make(chan struct{}, transferJobs)
			for i, rel := range files {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					name := rel
					if destPath != "" {
						name = strings.TrimSuffix(destPath, "/") + "/" + rel
					}
					res, err := a.uploadFile(c.Context(), bc, dest, name, filepath.Join(source, filepath.FromSlash(rel)), contentType, md, overwrite, false)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						if firstErr == nil {
							firstErr = err
						}
						return
					}
					out[i] = map[string]any{"Blob": bc.base + "/" + escapePath(dest+"/"+name), "Last Modified": res["lastModified"],
						"Type": res["contentType"], "eTag": res["etag"]}
				}()
			}
			wg.Wait()
			if firstErr != nil {
				return firstErr
			}
			return a.print(out)
		},
	}
	uploadBatch.Flags().StringVarP(&source, "source", "s", "", "The directory to upload")
	uploadBatch.Flags().StringVarP(&dest, "destination", "d", "", "The container to upload to")
	uploadBatch.Flags().StringVar(&destPath, "destination-path", "", "A path prefix for the blob names")
	uploadBatch.Flags().StringVar(&pattern, "pattern", "", "Upload only files whose relative path matches this glob")
	uploadBatch.Flags().StringVar(&contentType, "content-type", "", "Content type of every blob (default: guessed per file)")
	uploadBatch.Flags().StringSliceVar(&metadata, "metadata", nil, "Space-separated key=value metadata")
	uploadBatch.Flags().BoolVar(&overwrite, "overwrite", false, "Replace existing blobs")
	for _, fl := range []string{"source", "destination"} {
		uploadBatch.MarkFlagRequired(fl)
	}

	downloadBatch := &cobra.Command{
		Use: "download-batch", Short: "Download the blobs of a container into a directory", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			items, err := a.listBlobs(c.Context(), bc, source, "", "", 0)
			if err != nil {
				return err
			}
			var names []string
			for _, it := range items {
				n, _ := it.(map[string]any)["name"].(string)
				if pattern != "" {
					if !fnmatch(pattern, n) {
						continue
					}
				}
				names = append(names, n)
			}
			root, err := filepath.Abs(dest)
			if err != nil {
				return err
			}
			var wg sync.WaitGroup
			var firstErr error
			var mu sync.Mutex
			sem := make(chan struct{}, transferJobs)
			for _, n := range names {
				target := filepath.Join(root, filepath.FromSlash(n))
				if rel, err := filepath.Rel(root, target); err != nil || rel == "." || strings.HasPrefix(rel, "..") || strings.HasSuffix(n, "/") {
					return &cliError{Message: fmt.Sprintf("the blob name %q would be written outside %s; refusing to download it (rename the blob or download it alone with -f)", n, root), Exit: exitError}
				}
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if _, err := a.downloadFile(c.Context(), bc, source, n, target, false); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if firstErr != nil {
				return firstErr
			}
			out := make([]any, len(names))
			for i, n := range names {
				out[i] = n
			}
			return a.print(out)
		},
	}
	downloadBatch.Flags().StringVarP(&source, "source", "s", "", "The container to download from")
	downloadBatch.Flags().StringVarP(&dest, "destination", "d", "", "The directory to write into")
	downloadBatch.Flags().StringVar(&pattern, "pattern", "", "Download only blobs whose names match this glob")
	for _, fl := range []string{"source", "destination"} {
		downloadBatch.MarkFlagRequired(fl)
	}

	for _, c := range []*cobra.Command{upload, download, show, exists, del, list, uploadBatch, downloadBatch} {
		f.register(c)
		cmd.AddCommand(c)
	}
	return cmd
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
