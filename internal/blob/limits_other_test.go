//go:build !linux

package blob_test

import "os"

func startWriteback(*os.File, int64, int64) {}
