"""The workers hireflow's pool is compared with, each as a user would write it."""
