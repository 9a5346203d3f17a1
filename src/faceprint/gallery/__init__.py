"""The gallery: enrolled people in one SQLite file, enrolment, and nearest-neighbour search."""

from faceprint.gallery.enroll import EnrollReport, enroll, identity_folders, split_per_person
from faceprint.gallery.index import ExactIndex
from faceprint.gallery.store import Gallery, GalleryEmbeddings, default_gallery_path

__all__ = ["EnrollReport", "ExactIndex", "Gallery", "GalleryEmbeddings", "default_gallery_path", "enroll", "identity_folders", "split_per_person"]
