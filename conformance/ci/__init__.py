"""What CI builds on: the gate, shards and their merge, and known-failure manifests."""
