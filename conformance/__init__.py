"""autograd-conformance: run YAML autograd scenarios on several backends and diff them."""
