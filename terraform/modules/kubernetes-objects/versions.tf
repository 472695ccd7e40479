terraform {
  # No provider: this module only computes objects from its inputs and the repository's files,
  # so `terraform console` evaluates it offline (tests/infra read what it would install).
  required_version = ">= 1.10.0, < 2.0.0"
}
