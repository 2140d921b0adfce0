"""EEG windows and where they come from: synthetic data, recordings read with MNE, epochs files,
preprocessing, the windows cache, subject-wise splits and the root-confined path policy.

Each module imports numpy (and MNE inside the functions that read files): this layer runs in
workers, never in the Jupyter server.
"""
