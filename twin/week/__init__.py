"""The week in the life (``make e2e``): the scenario the production twin runs in CI."""
