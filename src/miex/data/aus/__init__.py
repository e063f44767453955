"""AU core: the 17-AU vocabulary, OpenFace and GANimation file formats, and the tidy AU table."""

from miex.data.aus.ganimation_format import (
    image_id,
    read_ganimation_aus,
    read_ganimation_ids,
    write_ganimation_aus,
    write_ganimation_ids,
)
from miex.data.aus.openface import read_openface_csv
from miex.data.aus.schema import (
    AU_DESCRIPTIONS,
    AU_INDEX,
    AU_MAX,
    AU_MIN,
    AU_NAMES,
    LABEL_NAMES,
    NO_LABEL,
    NUM_AUS,
    au_vector,
    from_generator_scale,
    normalize_au_name,
    to_generator_scale,
    validate_au_array,
)
from miex.data.aus.table import AU_TABLE_COLUMNS, normalize_au_table, read_au_reliability, read_au_table, write_au_table

__all__ = [
    "AU_DESCRIPTIONS",
    "AU_INDEX",
    "AU_MAX",
    "AU_MIN",
    "AU_NAMES",
    "AU_TABLE_COLUMNS",
    "LABEL_NAMES",
    "NO_LABEL",
    "NUM_AUS",
    "au_vector",
    "from_generator_scale",
    "image_id",
    "normalize_au_name",
    "normalize_au_table",
    "read_au_reliability",
    "read_au_table",
    "read_ganimation_aus",
    "read_ganimation_ids",
    "read_openface_csv",
    "to_generator_scale",
    "validate_au_array",
    "write_au_table",
    "write_ganimation_aus",
    "write_ganimation_ids",
]
