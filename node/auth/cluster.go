package auth

// StartReplica marks the service ready without creating the default
// users: on a cluster node only the master can write, so the first master
// creates them (Start, retried by the node until it succeeds) and they
// reach the other nodes through replication, as in Event Store, where the
// master creates them on becoming master. Until then logins fail as for
// an unknown user; anonymous requests are served.
func (s *Service) StartReplica() error {
	if err := s.RefreshSettings(); err != nil {
		return err
	}
	s.ready.Store(true)
	return nil
}
