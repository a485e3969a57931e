"""RUNME.py's machinery: stand the platform up (Terraform, Argo CD, the gateway chart).

Standard library only: it runs before anything is installed.
"""
