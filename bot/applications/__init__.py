"""Applications of citizens (status lookup): import of the cities' exports, privacy helpers."""

from bot.applications.importer import (
    ImportSummary,
    ImportValidationError,
    Problem,
    import_applications,
)
from bot.applications.privacy import mask_application_no, mask_name, mask_phone

__all__ = [
    "ImportSummary",
    "ImportValidationError",
    "Problem",
    "import_applications",
    "mask_application_no",
    "mask_name",
    "mask_phone",
]
