"""Paper 003 (Cohen, Abutbul & Hoshen, "Out-of-Distribution Detection Without Class Labels"): cluster the
unlabelled normal images into pseudo-classes (SCAN: SimCLR, SCAN loss, self-labelling), fine-tune a
"pretrained" network on the pseudo-labels, average the epoch-end weights, score by kNN distance.

Modules: ``settings`` (per-profile knobs), ``splits`` (normal / anomaly / source data), ``networks``
(small CNN, the "pretrained" stand-in, torchvision ImageNet backbones), ``augment``, ``losses`` (SCAN,
self-labelling), ``neighbours`` (faiss mining), ``stages`` (source training, SimCLR, SCAN, self-label),
``finetune`` (cosine schedule, epoch snapshots, weight averaging), ``scoring``, ``experiment`` (one trial,
every table's records), ``toy`` (the 2-D Fig. 1 experiment), ``paper_values`` (the tables as printed).
"""
