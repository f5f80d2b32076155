"""Quality members, their registry and the fusion into one score per shot."""

from engine.quality.base import FACES, IMAGE, FaceInput, MemberScore, QualityMember, ShotInput
from engine.quality.registry import (
    available_members,
    create_member,
    default_member_names,
    register_member,
)

__all__ = [
    "FACES",
    "IMAGE",
    "FaceInput",
    "MemberScore",
    "QualityMember",
    "ShotInput",
    "available_members",
    "create_member",
    "default_member_names",
    "register_member",
]
