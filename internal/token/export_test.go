package token

// SignForTest signs claims with the service's active key: the forged-token
// table (forged_test.go) needs tokens that are validly signed but carry
// wrong claims (expired, wrong issuer, …).
func SignForTest(s *Service, claims map[string]any) (string, error) { return s.sign(claims) }

// ActiveKIDForTest is the kid of the signing key.
func ActiveKIDForTest(s *Service) string {
	k, err := s.keys.signing()
	if err != nil {
		return ""
	}
	return k.rec.KID
}
