# Turns a text file into a C string constant: awk -v name=NAME -f embed.awk FILE
BEGIN { printf "/* generated from the OpenAPI document; do not edit */\nconst char %s[] =\n", name }
{
	gsub(/\\/, "\\\\")
	gsub(/"/, "\\\"")
	gsub(/\t/, "\\t")
	printf "\"%s\\n\"\n", $0
}
END { print ";" }
