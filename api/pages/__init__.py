"""The officials' pages (/console): server-rendered, in Vietnamese and English, for admins,
province officials and site staff. `session` signs in and guards every page; `i18n` the
languages; `rendering` the templates and headers; `charts` the SVG charts; one module per page."""
