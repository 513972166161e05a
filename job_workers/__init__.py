"""The pyzeebe worker pool that runs every service task of hireflow's processes."""
