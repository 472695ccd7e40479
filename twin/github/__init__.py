"""The fake GitHub (REST API, git over smart HTTP, token rule) and the workflow runner."""
