package blob

// WaitRemovals returns once the data files queued for removal are gone
// (tests that count files).
func (h *Handler) WaitRemovals() { h.data.waitRemovals() }
