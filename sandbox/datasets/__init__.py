"""Synthetic datasets for the sandbox and the tests: seeded, reproducible, sized by arguments.

Every generator is a pure function of a seed and size arguments and returns in-memory files
(:class:`SyntheticFile`: key, bytes, kind, ground truth in ``expected``) or plain data shaped like
ONTAP's JSON; the same seed gives byte-identical output. :func:`upload_files` puts files into an
S3 bucket through an injected client; the ``load_*`` functions populate the ONTAP simulator.

=====================  ==============================================================
module                 what it makes
=====================  ==============================================================
``layouts``            GDSII / OASIS libraries (gdstk) and damaged copies
``images``             camera frames (PNG / JPEG) with object boxes, damaged copies
``pointclouds``        PCD ascii/binary/binary_compressed, LAS, PLY, KITTI .bin
``video``              H.264 MP4 / MOV clips written box by box, truncated copies
``acl_trees``          NTFS/UNIX permission trees with planted violations, shares, exports
``flexcache``          origin + caches across regions, loaded into ONTAP simulators
``corrupt``            truncation, byte patches, garbage (shared by the formats)
=====================  ==============================================================
"""

from sandbox.datasets.acl_trees import (
    VIOLATION_KINDS,
    AclEntry,
    AclTree,
    LoadedAclTree,
    PlantedViolation,
    Principal,
    acl_tree,
    load_acl_tree,
)
from sandbox.datasets.base import SyntheticFile, upload_files
from sandbox.datasets.flexcache import (
    FlexCacheSite,
    FlexCacheTopology,
    flexcache_simulators,
    flexcache_topology,
    load_flexcache_site,
)
from sandbox.datasets.images import camera_image, corrupt_image, image_dataset, truncated_image
from sandbox.datasets.layouts import (
    GDS_TIMESTAMP,
    build_library,
    corrupt_gdsii,
    corrupt_oasis,
    gdsii_file,
    layout_dataset,
    layout_ground_truth,
    oasis_file,
    truncated_layout,
)
from sandbox.datasets.lzf import lzf_compress
from sandbox.datasets.pointclouds import (
    kitti_scan,
    las_cloud,
    lidar_sweep,
    pcd_cloud,
    pcd_points_mismatch,
    ply_cloud,
    pointcloud_dataset,
)
from sandbox.datasets.video import truncated_video, video_clip, video_dataset, walk_boxes

__all__ = [
    "GDS_TIMESTAMP",
    "VIOLATION_KINDS",
    "AclEntry",
    "AclTree",
    "FlexCacheSite",
    "FlexCacheTopology",
    "LoadedAclTree",
    "PlantedViolation",
    "Principal",
    "SyntheticFile",
    "acl_tree",
    "build_library",
    "camera_image",
    "corrupt_gdsii",
    "corrupt_image",
    "corrupt_oasis",
    "flexcache_simulators",
    "flexcache_topology",
    "gdsii_file",
    "image_dataset",
    "kitti_scan",
    "las_cloud",
    "layout_dataset",
    "layout_ground_truth",
    "lidar_sweep",
    "load_acl_tree",
    "load_flexcache_site",
    "lzf_compress",
    "oasis_file",
    "pcd_cloud",
    "pcd_points_mismatch",
    "ply_cloud",
    "pointcloud_dataset",
    "truncated_image",
    "truncated_layout",
    "truncated_video",
    "upload_files",
    "video_clip",
    "video_dataset",
    "walk_boxes",
]
