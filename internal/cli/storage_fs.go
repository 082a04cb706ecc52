package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// `amlid storage fs …`: ADLS Gen2 (hierarchical namespace) filesystems,
// directories, files and POSIX ACLs, with az's flags. Requests go to the
// account's DFS endpoint, which is the blob endpoint (--blob-endpoint, as
// az's fs commands name it too).

// fsArgs are -f/--file-system and the path flags.
type fsArgs struct {
	fs   string
	path string
}

func (f *fsArgs) registerFS(c *cobra.Command) {
	c.Flags().StringVarP(&f.fs, "file-system", "f", "", "File system name")
	c.MarkFlagRequired("file-system")
}

// dfsRequest sends a DFS request and decodes a JSON answer into out (when
// non-nil).
func (bc *blobClient) dfsRequest(ctx context.Context, method, path string, q url.Values, hdr http.Header, out any) (*http.Response, error) {
	resp, err := bc.request(ctx, method, path, q, hdr, nil, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return nil, fmt.Errorf("the DFS endpoint answered unreadable JSON: %w", err)
		}
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp, nil
}

type dfsPath struct {
	Name          string `json:"name"`
	IsDirectory   string `json:"isDirectory"`
	ContentLength string `json:"contentLength"`
	LastModified  string `json:"lastModified"`
	ETag          string `json:"etag"`
	Owner         string `json:"owner"`
	Group         string `json:"group"`
	Permissions   string `json:"permissions"`
}

// pathShape is azure-storage-file-datalake's PathProperties as az prints it.
func pathShape(p dfsPath) map[string]any {
	n, _ := strconv.ParseInt(p.ContentLength, 10, 64)
	return map[string]any{"name": p.Name, "isDirectory": p.IsDirectory == "true", "contentLength": n,
		"lastModified": isoTime(p.LastModified), "etag": p.ETag, "owner": p.Owner, "group": p.Group,
		"permissions": p.Permissions, "expiryTime": nil, "encryptionScope": nil, "creationTime": nil}
}

// listPaths pages through List Paths.
func (bc *blobClient) listPaths(ctx context.Context, fs, dir string, recursive bool, max int, keep func(dfsPath) bool) ([]any, error) {
	out := []any{}
	cont := ""
	for {
		q := url.Values{"resource": {"filesystem"}, "recursive": {strconv.FormatBool(recursive)}}
		if dir != "" {
			q.Set("directory", dir)
		}
		if cont != "" {
			q.Set("continuation", cont)
		}
		var page struct {
			Paths []dfsPath `json:"paths"`
		}
		resp, err := bc.dfsRequest(ctx, http.MethodGet, fs, q, nil, &page)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Paths {
			if keep(p) {
				out = append(out, pathShape(p))
				if max > 0 && len(out) == max {
					return out, nil
				}
			}
		}
		if cont = resp.Header.Get("x-ms-continuation"); cont == "" {
			return out, nil
		}
	}
}

func (a *app) storageFSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "fs", Short: "Manage ADLS Gen2 file systems, directories, files and ACLs (hierarchical-namespace accounts)"}
	cmd.AddCommand(a.storageFSRootCmds()...)
	cmd.AddCommand(a.storageFSDirectoryCmd(), a.storageFSFileCmd(), a.storageFSAccessCmd())
	return cmd
}

func (a *app) storageFSRootCmds() []*cobra.Command {
	var f blobAuthFlags
	var name, prefix string
	var numResults int
	var metadata []string
	var yes bool
	create := &cobra.Command{
		Use: "create", Short: "Create a file system", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			h, err := parseMetadataFlag(metadata)
			if err != nil {
				return err
			}
			_, err = bc.doClose(c.Context(), http.MethodPut, name, url.Values{"restype": {containerQuery}}, h, nil, 0)
			if codeOf(err) == "ContainerAlreadyExists" {
				return a.print(map[string]any{"created": false})
			}
			if err != nil {
				return err
			}
			return a.print(map[string]any{"created": true})
		},
	}
	create.Flags().StringSliceVar(&metadata, "metadata", nil, "Space-separated key=value metadata")
	list := &cobra.Command{
		Use: "list", Short: "List file systems", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			out := []any{}
			cont := ""
			for {
				q := url.Values{"resource": {"account"}}
				if prefix != "" {
					q.Set("prefix", prefix)
				}
				if cont != "" {
					q.Set("continuation", cont)
				}
				var page struct {
					Filesystems []struct {
						Name         string `json:"name"`
						LastModified string `json:"lastModified"`
						ETag         string `json:"etag"`
					} `json:"filesystems"`
				}
				resp, err := bc.dfsRequest(c.Context(), http.MethodGet, "", q, nil, &page)
				if err != nil {
					return err
				}
				for _, fs := range page.Filesystems {
					out = append(out, map[string]any{"name": fs.Name, "lastModified": isoTime(fs.LastModified), "etag": fs.ETag,
						"metadata": nil, "publicAccess": nil, "hasImmutabilityPolicy": false, "hasLegalHold": false})
					if numResults > 0 && len(out) == numResults {
						return a.print(out)
					}
				}
				if cont = resp.Header.Get("x-ms-continuation"); cont == "" {
					return a.print(out)
				}
			}
		},
	}
	list.Flags().StringVar(&prefix, "prefix", "", "Only file systems whose names start with this prefix")
	list.Flags().IntVar(&numResults, "num-results", 0, "The most file systems to list")
	del := &cobra.Command{
		Use: "delete", Short: "Delete a file system and everything in it", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.confirm(yes); err != nil {
				return err
			}
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			_, err = bc.dfsRequest(c.Context(), http.MethodDelete, name, url.Values{"resource": {"filesystem"}}, nil, nil)
			if codeOf(err) == "FilesystemNotFound" {
				return a.print(map[string]any{"deleted": false})
			}
			if err != nil {
				return err
			}
			return a.print(map[string]any{"deleted": true})
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	for _, c := range []*cobra.Command{create, list, del} {
		f.register(c)
		if c != list {
			c.Flags().StringVarP(&name, "name", "n", "", "File system name")
			c.MarkFlagRequired("name")
		}
	}
	return []*cobra.Command{create, list, del}
}

func (a *app) storageFSDirectoryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "directory", Short: "Manage directories of an ADLS Gen2 file system"}
	var f blobAuthFlags
	var fa fsArgs
	var name, newDir, permissions, umask string
	var recursive, yes bool
	var numResults int
	create := &cobra.Command{
		Use: "create", Short: "Create a directory (missing parents too)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			h := http.Header{}
			if permissions != "" {
				h.Set("x-ms-permissions", permissions)
			}
			if umask != "" {
				h.Set("x-ms-umask", umask)
			}
			resp, err := bc.dfsRequest(c.Context(), http.MethodPut, fa.fs+"/"+strings.Trim(name, "/"), url.Values{"resource": {"directory"}}, h, nil)
			if err != nil {
				return err
			}
			return a.print(map[string]any{"etag": resp.Header.Get("ETag"), "lastModified": isoTime(resp.Header.Get("Last-Modified"))})
		},
	}
	create.Flags().StringVar(&permissions, "permissions", "", "POSIX permissions (symbolic rwxr-x--- or octal 0750)")
	create.Flags().StringVar(&umask, "umask", "", "Octal umask (default 0027)")
	list := &cobra.Command{
		Use: "list", Short: "List directories", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			out, err := bc.listPaths(c.Context(), fa.fs, strings.Trim(fa.path, "/"), recursive, numResults, func(p dfsPath) bool { return p.IsDirectory == "true" })
			if err != nil {
				return err
			}
			return a.print(out)
		},
	}
	list.Flags().StringVar(&fa.path, "path", "", "The directory to list (default: the root)")
	list.Flags().BoolVar(&recursive, "recursive", true, "List the whole subtree")
	list.Flags().IntVar(&numResults, "num-results", 0, "The most directories to list")
	move := &cobra.Command{
		Use: "move", Short: "Move (rename) a directory with everything under it, in one operation", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			dst := strings.Trim(newDir, "/")
			if !strings.Contains(dst, "/") {
				return usageErr("--new-directory must be <file system>/<path>, e.g. %s/renamed", fa.fs)
			}
			h := http.Header{"x-ms-rename-source": {"/" + escapePath(fa.fs+"/"+strings.Trim(name, "/"))}}
			resp, err := bc.dfsRequest(c.Context(), http.MethodPut, dst, url.Values{"mode": {"legacy"}}, h, nil)
			if err != nil {
				return err
			}
			return a.print(map[string]any{"name": dst[strings.Index(dst, "/")+1:], "etag": resp.Header.Get("ETag"), "lastModified": isoTime(resp.Header.Get("Last-Modified"))})
		},
	}
	move.Flags().StringVarP(&newDir, "new-directory", "d", "", "The new path, as <file system>/<path>")
	move.MarkFlagRequired("new-directory")
	del := &cobra.Command{
		Use: "delete", Short: "Delete a directory and everything under it", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.confirm(yes); err != nil {
				return err
			}
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			_, err = bc.dfsRequest(c.Context(), http.MethodDelete, fa.fs+"/"+strings.Trim(name, "/"), url.Values{"recursive": {"true"}}, nil, nil)
			return err
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	for _, c := range []*cobra.Command{create, list, move, del} {
		f.register(c)
		fa.registerFS(c)
		if c != list {
			c.Flags().StringVarP(&name, "name", "n", "", "Directory path")
			c.MarkFlagRequired("name")
		}
		cmd.AddCommand(c)
	}
	return cmd
}

// fsAppendChunk is the append size of uploads (az uses 100 MiB; smaller
// chunks keep memory low).
const fsAppendChunk = 8 << 20

func (a *app) storageFSFileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "file", Short: "Manage files of an ADLS Gen2 file system"}
	var f blobAuthFlags
	var fa fsArgs
	var source, dest, permissions, umask string
	var overwrite, recursive, excludeDir, yes bool
	var numResults int
	upload := &cobra.Command{
		Use: "upload", Short: "Upload a local file (create, append, flush)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			in, err := os.Open(source)
			if err != nil {
				return usageErr("cannot read --source: %v", err)
			}
			defer in.Close()
			st, err := in.Stat()
			if err != nil {
				return err
			}
			p := fa.fs + "/" + strings.Trim(fa.path, "/")
			h := http.Header{}
			if !overwrite {
				h.Set("If-None-Match", "*")
			}
			if permissions != "" {
				h.Set("x-ms-permissions", permissions)
			}
			if umask != "" {
				h.Set("x-ms-umask", umask)
			}
			if _, err := bc.dfsRequest(c.Context(), http.MethodPut, p, url.Values{"resource": {"file"}}, h, nil); err != nil {
				return err
			}
			prog := a.newProgress(st.Size())
			var pos int64
			for pos < st.Size() {
				n := min(int64(fsAppendChunk), st.Size()-pos)
				body := progressReader{r: io.NewSectionReader(in, pos, n), fn: prog.add}
				resp, err := bc.request(c.Context(), http.MethodPatch, p, url.Values{"action": {"append"}, "position": {strconv.FormatInt(pos, 10)}}, nil, body, n)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				pos += n
			}
			resp, err := bc.dfsRequest(c.Context(), http.MethodPatch, p, url.Values{"action": {"flush"}, "position": {strconv.FormatInt(pos, 10)}, "close": {"true"}}, nil, nil)
			if err != nil {
				return err
			}
			return a.print(map[string]any{"etag": resp.Header.Get("ETag"), "lastModified": isoTime(resp.Header.Get("Last-Modified")), "contentLength": pos})
		},
	}
	upload.Flags().StringVarP(&source, "source", "s", "", "The local file to upload")
	upload.MarkFlagRequired("source")
	upload.Flags().BoolVar(&overwrite, "overwrite", false, "Replace an existing file")
	upload.Flags().StringVar(&permissions, "permissions", "", "POSIX permissions of a new file")
	upload.Flags().StringVar(&umask, "umask", "", "Octal umask (default 0027)")
	download := &cobra.Command{
		Use: "download", Short: "Download a file", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			target := dest
			if target == "" {
				target = "."
			}
			if st, err := os.Stat(target); err == nil && st.IsDir() {
				target = strings.TrimRight(target, "/") + "/" + fa.path[strings.LastIndex(fa.path, "/")+1:]
			}
			if _, err := os.Stat(target); err == nil && !overwrite {
				return usageErr("the file %s exists; pass --overwrite to replace it", target)
			}
			resp, err := bc.request(c.Context(), http.MethodGet, fa.fs+"/"+strings.Trim(fa.path, "/"), nil, nil, nil, 0)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			n, err := io.Copy(out, resp.Body)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			return a.print(map[string]any{"name": fa.path, "contentLength": n, "etag": resp.Header.Get("ETag")})
		},
	}
	download.Flags().StringVarP(&dest, "destination", "d", "", "The local file or directory (default: the current directory)")
	download.Flags().BoolVar(&overwrite, "overwrite", false, "Replace an existing local file")
	list := &cobra.Command{
		Use: "list", Short: "List files and directories", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			out, err := bc.listPaths(c.Context(), fa.fs, strings.Trim(fa.path, "/"), recursive, numResults, func(p dfsPath) bool { return !excludeDir || p.IsDirectory != "true" })
			if err != nil {
				return err
			}
			return a.print(out)
		},
	}
	list.Flags().BoolVar(&recursive, "recursive", true, "List the whole subtree")
	list.Flags().BoolVar(&excludeDir, "exclude-dir", false, "List files only")
	list.Flags().IntVar(&numResults, "num-results", 0, "The most paths to list")
	del := &cobra.Command{
		Use: "delete", Short: "Delete a file", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.confirm(yes); err != nil {
				return err
			}
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			_, err = bc.dfsRequest(c.Context(), http.MethodDelete, fa.fs+"/"+strings.Trim(fa.path, "/"), url.Values{"recursive": {"false"}}, nil, nil)
			return err
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	for _, c := range []*cobra.Command{upload, download, list, del} {
		f.register(c)
		fa.registerFS(c)
		if c == list {
			c.Flags().StringVar(&fa.path, "path", "", "The directory to list (default: the root)")
		} else {
			c.Flags().StringVarP(&fa.path, "path", "p", "", "The file's path in the file system")
			c.MarkFlagRequired("path")
		}
		cmd.AddCommand(c)
	}
	return cmd
}

func (a *app) storageFSAccessCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "access", Short: "Manage POSIX access control (owner, group, permissions, ACLs) of ADLS Gen2 paths"}
	var f blobAuthFlags
	var fa fsArgs
	var acl, permissions, owner, group string
	var continueOnFailure bool
	target := func() string {
		p := strings.Trim(fa.path, "/")
		if p == "" {
			return fa.fs + "/"
		}
		return fa.fs + "/" + p
	}
	show := &cobra.Command{
		Use: "show", Short: "Show the owner, group, permissions and ACL of a path", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			resp, err := bc.dfsRequest(c.Context(), http.MethodHead, target(), url.Values{"action": {"getAccessControl"}}, nil, nil)
			if err != nil {
				return err
			}
			h := resp.Header
			return a.print(map[string]any{"acl": h.Get("x-ms-acl"), "group": h.Get("x-ms-group"), "owner": h.Get("x-ms-owner"), "permissions": h.Get("x-ms-permissions")})
		},
	}
	set := &cobra.Command{
		Use: "set", Short: "Set the ACL, permissions, owner or group of a path", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if acl == "" && permissions == "" && owner == "" && group == "" {
				return usageErr("one of --acl, --permissions, --owner or --group is required")
			}
			if acl != "" && permissions != "" {
				return usageErr("--acl and --permissions are mutually exclusive")
			}
			bc, err := a.newBlobClient(c.Context(), &f)
			if err != nil {
				return err
			}
			h := http.Header{}
			for k, v := range map[string]string{"x-ms-acl": acl, "x-ms-permissions": permissions, "x-ms-owner": owner, "x-ms-group": group} {
				if v != "" {
					h.Set(k, v)
				}
			}
			resp, err := bc.dfsRequest(c.Context(), http.MethodPatch, target(), url.Values{"action": {"setAccessControl"}}, h, nil)
			if err != nil {
				return err
			}
			return a.print(map[string]any{"etag": nullIfEmpty(resp.Header.Get("ETag")), "lastModified": isoTime(resp.Header.Get("Last-Modified"))})
		},
	}
	set.Flags().StringVar(&permissions, "permissions", "", "POSIX permissions (symbolic rwxr-x---[t] or octal 0750/1777)")
	set.Flags().StringVar(&owner, "owner", "", "New owner object ID (superusers only: Storage Blob Data Owner)")
	set.Flags().StringVar(&group, "group", "", "New owning group object ID")
	recursive := func(mode string) *cobra.Command {
		return &cobra.Command{
			Use: mode + "-recursive", Short: strings.ToUpper(mode[:1]) + mode[1:] + " the ACL of a path and everything under it", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				bc, err := a.newBlobClient(c.Context(), &f)
				if err != nil {
					return err
				}
				m := map[string]string{"set": "set", "update": "modify", "remove": "remove"}[mode]
				total := map[string]int{}
				failed := []any{}
				cont := ""
				for {
					q := url.Values{"action": {"setAccessControlRecursive"}, "mode": {m}}
					if cont != "" {
						q.Set("continuation", cont)
					}
					if continueOnFailure {
						q.Set("forceFlag", "true")
					}
					var page struct {
						Dirs     int              `json:"directoriesSuccessful"`
						Files    int              `json:"filesSuccessful"`
						Failures int              `json:"failureCount"`
						Failed   []map[string]any `json:"failedEntries"`
					}
					resp, err := bc.dfsRequest(c.Context(), http.MethodPatch, target(), q, http.Header{"x-ms-acl": {acl}}, &page)
					if err != nil {
						return err
					}
					total["directoriesSuccessful"] += page.Dirs
					total["filesSuccessful"] += page.Files
					total["failureCount"] += page.Failures
					for _, fe := range page.Failed {
						failed = append(failed, fe)
					}
					cont = resp.Header.Get("x-ms-continuation")
					if cont == "" || (page.Failures > 0 && !continueOnFailure) {
						return a.print(map[string]any{"continuation": nullIfEmpty(cont), "counters": total, "failedEntries": failed})
					}
				}
			},
		}
	}
	setRec, updRec, rmRec := recursive("set"), recursive("update"), recursive("remove")
	for _, c := range []*cobra.Command{setRec, updRec, rmRec} {
		c.Flags().BoolVar(&continueOnFailure, "continue-on-failure", false, "Go on past paths whose ACL cannot be changed")
		c.Flags().StringVar(&acl, "acl", "", "The ACL, e.g. user::rwx,user:<object ID>:r-x,group::r-x,other::---")
		c.MarkFlagRequired("acl")
	}
	set.Flags().StringVar(&acl, "acl", "", "The full ACL, e.g. user::rwx,user:<object ID>:r-x,group::r-x,mask::r-x,other::---")
	for _, c := range []*cobra.Command{show, set, setRec, updRec, rmRec} {
		f.register(c)
		fa.registerFS(c)
		c.Flags().StringVarP(&fa.path, "path", "p", "", "The path (file or directory; empty or / for the root)")
		cmd.AddCommand(c)
	}
	return cmd
}
