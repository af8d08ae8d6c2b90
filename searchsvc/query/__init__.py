"""The path of a query before it meets documents: the query language (parse, render) and
the plan that turns a parsed query into index terms and Whoosh queries."""
