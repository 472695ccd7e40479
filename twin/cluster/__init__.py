"""The fake cluster: object store, kubectl/Argo APIs, Argo Workflows executor, pods, Rollouts.

One process (``python -m twin cluster-serve``) holds it; see ``interfaces.py`` for the seams
between the object store, the pod runner and the controllers.
"""
