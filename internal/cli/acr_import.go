package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"
)

// acrImportCmd seeds a registry from local files, with no network: an OCI
// image layout directory or a `docker save` tarball. It pushes through the
// registry's own API with the caller's Entra identity (so it needs push:
// AcrPush, Contributor or Owner on the registry).
func (a *app) acrImportCmd() *cobra.Command {
	var f acrFlags
	var source, image string
	c := &cobra.Command{
		Use:   "import",
		Short: "Import an image from an OCI layout directory or a docker-save tarball (no network needed)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if source == "" || image == "" {
				return usageErr("the following arguments are required: --source, --image")
			}
			repoTag := image
			if !strings.Contains(repoTag, ":") && !strings.Contains(repoTag, "@") {
				repoTag += ":latest"
			}
			s, err := a.acrLogin(c.Context(), f)
			if err != nil {
				return err
			}
			ref, err := name.ParseReference(s.loginServer+"/"+repoTag, name.StrictValidation)
			if err != nil {
				return usageErr("--image %q: %v", image, err)
			}
			t, err := a.target()
			if err != nil {
				return err
			}
			opts := []remote.Option{remote.WithContext(c.Context()), remote.WithTransport(t.HTTP.Transport),
				remote.WithAuth(authn.FromConfig(authn.AuthConfig{IdentityToken: s.refresh}))}
			digest, err := pushSource(c.Context(), source, ref, opts)
			if err != nil {
				return err
			}
			return a.print(map[string]any{"image": ref.String(), "digest": digest, "loginServer": s.loginServer})
		},
	}
	f.register(c)
	c.Flags().StringVar(&source, "source", "", "An OCI image layout directory or a 'docker save' tarball")
	c.Flags().StringVarP(&image, "image", "t", "", "The target repository:tag in the registry")
	return c
}

func pushSource(ctx context.Context, source string, ref name.Reference, opts []remote.Option) (string, error) {
	fi, err := os.Stat(source)
	if err != nil {
		return "", usageErr("--source: %v", err)
	}
	if !fi.IsDir() {
		img, err := tarball.ImageFromPath(source, nil)
		if err != nil {
			return "", &cliError{Message: fmt.Sprintf("--source %s is not a docker-save tarball with one image: %v", source, err), Exit: exitError}
		}
		if err := remote.Write(ref, img, opts...); err != nil {
			return "", pushErr(err)
		}
		d, err := img.Digest()
		return d.String(), err
	}
	idx, err := layout.ImageIndexFromPath(source)
	if err != nil {
		return "", &cliError{Message: fmt.Sprintf("--source %s is not an OCI image layout: %v", source, err), Exit: exitError}
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	var desc *v1.Descriptor
	switch {
	case len(im.Manifests) == 1:
		desc = &im.Manifests[0]
	default: // pick the one named like the tag
		want := ""
		if t, ok := ref.(name.Tag); ok {
			want = t.TagStr()
		}
		var names []string
		for i, m := range im.Manifests {
			n := m.Annotations["org.opencontainers.image.ref.name"]
			names = append(names, n)
			if n != "" && (n == want || strings.HasSuffix(n, ":"+want)) {
				desc = &im.Manifests[i]
			}
		}
		if desc == nil {
			return "", usageErr("the layout holds %d images (%s): name one with the tag of --image", len(im.Manifests), strings.Join(names, ", "))
		}
	}
	if desc.MediaType.IsIndex() {
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return "", err
		}
		if err := remote.WriteIndex(ref, child, opts...); err != nil {
			return "", pushErr(err)
		}
		return desc.Digest.String(), nil
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return "", pushErr(err)
	}
	return desc.Digest.String(), nil
}

func pushErr(err error) error {
	return &cliError{Message: "push failed: " + err.Error(), Exit: exitError, Status: http.StatusForbidden}
}
