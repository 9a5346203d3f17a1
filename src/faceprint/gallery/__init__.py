"""The gallery: enrolled people in a store (a SQLite file or PostgreSQL), enrolment, and nearest-neighbour search."""

from faceprint.gallery.enroll import EnrollReport, enroll, identity_folders, split_per_person
from faceprint.gallery.identify import build_identifier
from faceprint.gallery.index import ExactIndex
from faceprint.gallery.store import Gallery, GalleryEmbeddings, GalleryStore, default_gallery_path, open_store

__all__ = ["EnrollReport", "ExactIndex", "Gallery", "GalleryEmbeddings", "GalleryStore", "build_identifier", "default_gallery_path", "open_store", "enroll", "identity_folders", "split_per_person"]
